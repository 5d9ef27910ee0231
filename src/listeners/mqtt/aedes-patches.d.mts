export declare const AEDES_VERSION: string;
export declare const AEDES_PATCHES: { file: string; why: string; find: string; replace: string }[];
export declare function patchAedesSource(filePath: string, source: string): string;
