// Which package carries the binary for this machine, in the pattern esbuild and biome
// use: one small package per platform, each an optional dependency of this one, so npm
// installs only the one whose `os` and `cpu` match.
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);

/** The platform packages, by `${process.platform}-${process.arch}`. */
export const PLATFORMS = {
  "linux-x64": "@cloudpc-partners/linux-x64",
  "linux-arm64": "@cloudpc-partners/linux-arm64",
  "darwin-x64": "@cloudpc-partners/darwin-x64",
  "darwin-arm64": "@cloudpc-partners/darwin-arm64",
  "win32-x64": "@cloudpc-partners/win32-x64",
};

/** The path of the cloudpc-partners binary: CLOUDPC_PARTNERS_BIN, else the platform package's. */
export function binaryPath() {
  if (process.env.CLOUDPC_PARTNERS_BIN) return process.env.CLOUDPC_PARTNERS_BIN;
  const key = `${process.platform}-${process.arch}`;
  const pkg = PLATFORMS[key];
  if (!pkg) throw new Error(`cloudpc-partners has no binary for ${key}; build it with cargo and set CLOUDPC_PARTNERS_BIN`);
  const exe = process.platform === "win32" ? "cloudpc-partners.exe" : "cloudpc-partners";
  try {
    return require.resolve(`${pkg}/bin/${exe}`);
  } catch {
    throw new Error(`${pkg} is not installed: reinstall cloudpc-partners without --no-optional (npm installs the package for ${key} as an optional dependency)`);
  }
}
