// Builds the console into dist/: index.html, app.js and app.css (minified, one file each),
// which the pharos binary embeds. `node build.mjs --watch` rebuilds on change.
import * as esbuild from "esbuild";
import "./check-i18n.mjs";
import { mkdirSync, copyFileSync, statSync } from "node:fs";
import { gzipSync } from "node:zlib";
import { readFileSync } from "node:fs";

const watch = process.argv.includes("--watch");
// --outdir DIR: where to write (the CMake build gives its own, so builds never share one).
const at = process.argv.indexOf("--outdir");
const outdir = at > 0 ? process.argv[at + 1] : "dist";
mkdirSync(outdir, { recursive: true });
const options = {
  entryPoints: { app: "src/main.jsx" },
  bundle: true,
  minify: !watch,
  sourcemap: false,
  target: ["chrome110", "firefox110", "safari16"],
  jsx: "automatic",
  jsxImportSource: "preact",
  outdir,
  legalComments: "none",
  logLevel: "warning",
};
if (watch) {
  const ctx = await esbuild.context(options);
  await ctx.watch();
} else {
  await esbuild.build(options);
}
copyFileSync("src/index.html", `${outdir}/index.html`);
let total = 0;
for (const f of ["app.js", "app.css", "index.html"]) {
  const gz = gzipSync(readFileSync(`${outdir}/${f}`), { level: 9 }).length;
  total += f === "index.html" ? 0 : gz;
  console.log(`${outdir}/${f}: ${statSync(`${outdir}/${f}`).size} bytes, ${gz} gzipped`);
}
console.log(`JavaScript and CSS: ${total} bytes gzipped (budget 300 KB)`);
if (total > 300 * 1024) {
  console.error("over the 300 KB budget");
  process.exit(1);
}
