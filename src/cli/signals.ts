// Ctrl-C for the client commands: the first SIGINT/SIGTERM asks the command to finish what it is
// doing (print what was read, send what was queued); a second one exits at once, with the 130 a
// shell reports for an interrupt.

export interface Interrupt {
  /** Aborted by the first signal. */
  readonly signal: AbortSignal;
  /** Gives SIGINT and SIGTERM back to their default handling. */
  dispose(): void;
}

export function interruptOnSignal(): Interrupt {
  const stop = new AbortController();
  const onSignal = () => {
    if (stop.signal.aborted) process.exit(130);
    stop.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return {
    signal: stop.signal,
    dispose() {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    },
  };
}
