#!/usr/bin/env node
// A `solc` command-line stand-in built on solc-js, so that py-solc-x can drive the pinned npm compiler
// (native solc cannot be downloaded on our machines). It answers the two calls py-solc-x makes:
//   solc-shim.js --version
//   solc-shim.js --standard-json [--base-path P] [--allow-paths A,B] [--include-path I]...  < input.json
// Imports are resolved from the base path, the include paths, then this folder's node_modules.
// solc.compile() is called directly: the `solcjs` CLI prints a banner line that breaks JSON on stdout.
"use strict";
const fs = require("fs");
const path = require("path");
const solc = require("solc");

const args = process.argv.slice(2);

if (args.includes("--version")) {
  process.stdout.write(`solc, the solidity compiler commandline interface\nVersion: ${solc.version()}\n`);
  process.exit(0);
}

if (!args.includes("--standard-json")) {
  process.stderr.write("solc-shim.js only supports --version and --standard-json\n");
  process.exit(2);
}

function optionValues(name) {
  const values = [];
  for (let i = 0; i < args.length; i++) {
    if (args[i] === name && i + 1 < args.length) values.push(...args[i + 1].split(","));
  }
  return values;
}

const roots = [
  ...optionValues("--base-path"),
  ...optionValues("--include-path"),
  path.join(__dirname, "node_modules"),
];

function findImports(importPath) {
  for (const root of roots) {
    const candidate = path.resolve(root, importPath);
    if (fs.existsSync(candidate)) {
      return { contents: fs.readFileSync(candidate, "utf8") };
    }
  }
  return { error: `File not found: ${importPath} (looked in ${roots.join(", ")})` };
}

const input = fs.readFileSync(0, "utf8");
process.stdout.write(solc.compile(input, { import: findImports }));
