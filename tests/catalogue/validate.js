// Validate AsyncAPI documents with the official parser (@asyncapi/parser).
//
//   node validate.js FILE...   parse each file; print its diagnostics (one JSON object per
//                              line); exit 1 if any document has an error, 0 otherwise.
//   node validate.js --lines   read one JSON document per line on stdin, answer each with
//                              one line {"valid": bool, "diagnostics": [...]} (the tests
//                              keep one process for the session: the parser takes ~1 s to
//                              load; a document takes 0.1-0.5 s).
"use strict";
const fs = require("fs");
const readline = require("readline");
const { Parser, DiagnosticSeverity } = require("@asyncapi/parser");

const SEVERITIES = { 0: "error", 1: "warning", 2: "information", 3: "hint" };
const parser = new Parser();

async function check(text) {
  const { document, diagnostics } = await parser.parse(text);
  const listed = diagnostics.map((d) => ({
    severity: SEVERITIES[d.severity],
    code: d.code,
    path: (d.path || []).join("/"),
    message: d.message,
  }));
  const errors = diagnostics.filter((d) => d.severity === DiagnosticSeverity.Error);
  return { valid: document !== undefined && errors.length === 0, diagnostics: listed };
}

async function files(paths) {
  let failed = 0;
  for (const path of paths) {
    const result = await check(fs.readFileSync(path, "utf8"));
    for (const d of result.diagnostics) console.log(JSON.stringify({ file: path, ...d }));
    console.error(`${path}: ${result.valid ? "valid" : "NOT valid"} AsyncAPI`);
    if (!result.valid) failed += 1;
  }
  process.exit(failed ? 1 : 0);
}

async function lines() {
  const input = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
  for await (const line of input) {
    if (!line.trim()) continue;
    let result;
    try {
      result = await check(line);
    } catch (error) {
      result = { valid: false, diagnostics: [{ severity: "error", code: "exception", path: "", message: String(error) }] };
    }
    process.stdout.write(JSON.stringify(result) + "\n");
  }
}

const args = process.argv.slice(2);
(args[0] === "--lines" ? lines() : files(args)).catch((error) => {
  console.error(error && error.stack ? error.stack : String(error));
  process.exit(2);
});
