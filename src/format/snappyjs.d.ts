// snappyjs ships no type declarations; these cover the two calls compression.ts makes.

declare module 'snappyjs' {
  /** Raw snappy of `data` (a Buffer in gives a Buffer out). */
  function compress(data: Uint8Array): Uint8Array;
  /** Raw snappy decoded; throws when the declared length exceeds maxLength or the stream is invalid. */
  function uncompress(data: Uint8Array, maxLength?: number): Uint8Array;
  const snappy: { compress: typeof compress; uncompress: typeof uncompress };
  export default snappy;
}
