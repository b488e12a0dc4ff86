#!/usr/bin/env node
// Parse every ```mermaid block of Markdown files with Mermaid itself (the library GitHub draws
// them with), in jsdom, as `outrun compare`'s charts must render on an issue comment.
//
// Usage: node tests/node/mermaid-parse.mjs FILE...
//
// Prints ONE JSON object: {blocks: [{file, index, type, config}], errors: [{file, index,
// message}], broken_rejected}. `broken_rejected` says that a deliberately broken chart was
// refused, so a parser that accepts anything cannot pass silently.
// Exit code: 0 every block parses, 1 some do not, 2 usage / setup error.
//
// Works from any cwd: `mermaid` and `jsdom` resolve from tests/node/node_modules (run
// scripts/install-test-tools.sh first).

import { readFile } from "node:fs/promises";

const files = process.argv.slice(2);
if (files.length === 0) {
  console.error("usage: node mermaid-parse.mjs FILE...");
  process.exit(2);
}

let mermaid;
try {
  const { JSDOM } = await import("jsdom");
  const dom = new JSDOM("<!doctype html><html><body></body></html>");
  globalThis.window = dom.window;
  globalThis.document = dom.window.document;
  mermaid = (await import("mermaid")).default;
  mermaid.initialize({ startOnLoad: false });
} catch (e) {
  console.error(`cannot load mermaid/jsdom: ${e.message}`);
  process.exit(2);
}

const out = { blocks: [], errors: [], broken_rejected: false };
for (const file of files) {
  const text = await readFile(file, "utf8");
  const blocks = [...text.matchAll(/```mermaid\n([\s\S]*?)```/g)].map((m) => m[1]);
  for (const [index, block] of blocks.entries()) {
    try {
      const r = await mermaid.parse(block);
      out.blocks.push({ file, index, type: r.diagramType, config: r.config ?? null });
    } catch (e) {
      out.errors.push({ file, index, message: String(e.message ?? e) });
    }
  }
}
try {
  await mermaid.parse('xychart-beta\n    x-axis ["a", "b"\n    line [1, 2]\n');
} catch {
  out.broken_rejected = true;
}
console.log(JSON.stringify(out));
process.exit(out.errors.length > 0 || !out.broken_rejected ? 1 : 0);
