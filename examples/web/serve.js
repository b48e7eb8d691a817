#!/usr/bin/env node
// A small static server for the browser example: the page, onnxruntime-web from node_modules (no
// CDN), the model, and its metadata_props as JSON (browsers have no ONNX parser of their own).
//
//   node examples/web/serve.js runs/<name>/G_A.onnx [--port 8080]
//   then open http://127.0.0.1:8080/
'use strict';

const fs = require('fs');
const http = require('http');
const path = require('path');
const protobuf = require('protobufjs');

const PAGE_DIR = __dirname;
const ORT_DIST = onnxruntimeWebDist();
const ONNX_PROTO = path.join(__dirname, '..', '..', 'src', 'export', 'onnx.proto');

const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.wasm': 'application/wasm',
  '.json': 'application/json',
  '.onnx': 'application/octet-stream',
  '.map': 'application/json',
};

/** onnxruntime-web's dist/ folder; its package.json is not exported, so walk up from the entry point. */
function onnxruntimeWebDist() {
  let dir = path.dirname(require.resolve('onnxruntime-web'));
  while (!fs.existsSync(path.join(dir, 'package.json'))) {
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error('serve.js: cannot find the onnxruntime-web package (npm install onnxruntime-web)');
    dir = parent;
  }
  return path.join(dir, 'dist');
}

/** The model's metadata_props, parsed with the ONNX schema cgtrain writes with. */
function readMetadata(modelFile) {
  const root = new protobuf.Root().loadSync(ONNX_PROTO, { keepCase: true });
  const model = root.lookupType('onnx.ModelProto').decode(fs.readFileSync(modelFile));
  const meta = {};
  for (const { key, value } of model.metadata_props) meta[key] = value;
  return meta;
}

/** Only plain file names inside a known directory are served: no '..', no sub-paths. */
function fileIn(dir, name) {
  if (!/^[\w.-]+$/.test(name) || name.startsWith('.')) return null;
  const file = path.join(dir, name);
  return fs.existsSync(file) && fs.statSync(file).isFile() ? file : null;
}

function route(url, modelFile) {
  const pathname = decodeURIComponent(new URL(url, 'http://localhost').pathname);
  if (pathname === '/' || pathname === '/index.html') return path.join(PAGE_DIR, 'index.html');
  if (pathname === '/main.js') return path.join(PAGE_DIR, 'main.js');
  if (pathname === '/model.onnx') return modelFile;
  if (pathname.startsWith('/ort/')) return fileIn(ORT_DIST, pathname.slice('/ort/'.length));
  return null;
}

/** Starts the server; resolves to { url, close() }. port 0 picks a free port. */
function startServer({ model, port = 8080, host = '127.0.0.1' }) {
  if (!fs.existsSync(model)) throw new Error(`serve.js: model file ${model} does not exist`);
  const metadataJson = JSON.stringify(readMetadata(model));
  const server = http.createServer((req, res) => {
    const pathname = req.url ? new URL(req.url, 'http://localhost').pathname : '';
    if (pathname === '/favicon.ico') {
      res.writeHead(204);
      res.end();
      return;
    }
    if (pathname === '/model.json') {
      res.writeHead(200, { 'Content-Type': TYPES['.json'], 'Cache-Control': 'no-store' });
      res.end(metadataJson);
      return;
    }
    const file = req.method === 'GET' && req.url ? route(req.url, model) : null;
    if (!file) {
      res.writeHead(404, { 'Content-Type': 'text/plain' });
      res.end('not found\n');
      return;
    }
    res.writeHead(200, { 'Content-Type': TYPES[path.extname(file)] || 'application/octet-stream', 'Cache-Control': 'no-store' });
    fs.createReadStream(file).pipe(res);
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      const { port: actual } = server.address();
      resolve({ url: `http://${host}:${actual}/`, close: () => new Promise((done) => server.close(() => done())) });
    });
  });
}

module.exports = { startServer, readMetadata };

if (require.main === module) {
  const args = process.argv.slice(2);
  const portIndex = args.indexOf('--port');
  const port = portIndex >= 0 ? Number(args.splice(portIndex, 2)[1]) : 8080;
  if (args.length !== 1 || !Number.isInteger(port)) {
    process.stderr.write('usage: node examples/web/serve.js MODEL.onnx [--port 8080]\n');
    process.exit(2);
  }
  startServer({ model: args[0], port })
    .then(({ url }) => process.stdout.write(`serving ${args[0]} at ${url} (Ctrl-C stops)\n`))
    .catch((err) => {
      process.stderr.write(`serve.js: ${err.message}\n`);
      process.exit(1);
    });
}
