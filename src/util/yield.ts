/**
 * Long synchronous work (training steps, evaluation batches) never lets the event loop run on its
 * own, so Ctrl-C and SIGTERM handlers, timers and file writes wait until it ends. Loops over
 * batches call this between batches: it lets the loop turn once (microseconds), then throws the
 * signal's reason when the caller was asked to stop meanwhile.
 */
export async function turnEventLoop(signal?: AbortSignal): Promise<void> {
  await new Promise<void>((resolve) => setImmediate(resolve));
  signal?.throwIfAborted();
}
