// The data dir as `tributary doctor` sees it, from outside a running broker: the storage functions it
// may call, handed out here because nothing outside the core imports src/storage (test/architecture).

export { inspectDataFile, type DataFileInfo } from '../storage/data-dir-inspect.ts';
export { probeDataDirLock, type LockState } from '../storage/data-dir-lock.ts';
