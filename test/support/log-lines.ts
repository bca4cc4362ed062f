/**
 * Waits for a line matching `pattern` among the lines `read()` returns (from index `from` on),
 * polling every 250 ms: for logs that are read by running a command (`docker-compose logs`,
 * `podman logs`), not streamed. Fails with the last 20 lines.
 */
export async function waitForLogLine(read: () => string[], pattern: RegExp, timeoutMs: number, from = 0): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const line = read().slice(from).find((candidate) => pattern.test(candidate));
    if (line) return line;
    if (Date.now() > deadline) throw new Error(`no monitor line matching ${pattern} within ${timeoutMs} ms:\n${read().slice(-20).join('\n')}`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}
