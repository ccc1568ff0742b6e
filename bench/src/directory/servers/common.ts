/**
 * What the two servers of the DIRECTORY benchmark share: each runs in its own child process
 * (`node --import tsx <script>`, 127.0.0.1, PORT=0 for a free port) and, once listening, prints
 * one JSON line `{"ready":true,"port":...,...}`. It ends on SIGTERM/SIGINT, when the parent closes
 * its stdin (the parent died), or after BENCH_DIRECTORY_MAX_SECONDS (default 1800).
 */
export function ready(info: Record<string, unknown>, close: () => Promise<void> = async () => {}): void {
  let ending = false;
  const finish = () => {
    if (ending) return;
    ending = true;
    const m = process.memoryUsage();
    process.stdout.write(JSON.stringify({ stopped: true, rss: m.rss, heapUsed: m.heapUsed }) + "\n");
    close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on("SIGTERM", finish);
  process.on("SIGINT", finish);
  process.stdin.on("end", finish).on("error", finish).resume();
  setTimeout(finish, Number(process.env.BENCH_DIRECTORY_MAX_SECONDS ?? 1800) * 1000).unref();
  process.stdout.write(JSON.stringify({ ready: true, ...info }) + "\n");
}
