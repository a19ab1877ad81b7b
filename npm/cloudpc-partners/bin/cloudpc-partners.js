#!/usr/bin/env node
// Runs the cloudpc-partners binary of this platform with the same arguments, passes
// signals on (so Ctrl-C and SIGTERM stop the service gracefully), and exits as it does.
import { spawn } from "node:child_process";
import { binaryPath } from "../platform.js";

const child = spawn(binaryPath(), process.argv.slice(2), { stdio: "inherit" });
for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"]) {
  process.on(signal, () => child.kill(signal));
}
child.on("exit", (code, signal) => {
  if (signal) process.kill(process.pid, signal);
  else process.exit(code ?? 1);
});
