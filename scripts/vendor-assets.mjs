// Copies the third-party assets the dashboard serves from node_modules into
// static/vendor/. The output is committed and embedded into the Go binary,
// so nothing is ever loaded from a CDN at run time.
//
// Deterministic: the destination folders are emptied first, files are copied
// byte for byte in sorted order, and nothing depends on time or platform.
//
// Usage: npm run vendor
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const fa = join(root, "node_modules", "@fortawesome", "fontawesome-free");
const out = join(root, "static", "vendor", "fontawesome");

if (!existsSync(fa)) {
  console.error("vendor: @fortawesome/fontawesome-free is not installed; run `npm ci` first");
  process.exit(1);
}

rmSync(out, { recursive: true, force: true });
mkdirSync(join(out, "css"), { recursive: true });
mkdirSync(join(out, "webfonts"), { recursive: true });

const copies = [
  ["LICENSE.txt", "LICENSE.txt"],
  ["css/all.min.css", "css/all.min.css"],
];
for (const name of readdirSync(join(fa, "webfonts")).sort()) {
  if (name.endsWith(".woff2")) copies.push([`webfonts/${name}`, `webfonts/${name}`]);
}

for (const [from, to] of copies) {
  copyFileSync(join(fa, from), join(out, to));
}

const { version } = JSON.parse(readFileSync(join(fa, "package.json"), "utf8"));
console.log(`vendor: Font Awesome Free ${version}: ${copies.length} files -> static/vendor/fontawesome/`);
