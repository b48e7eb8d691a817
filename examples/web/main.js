/* global ort */
// Runs a generator exported by `cgtrain export` in the browser with onnxruntime-web (WebAssembly).
// The pixel mapping, channel count and size come from /model.json, which serve.js reads from the
// model's metadata_props. window.cgtrain exposes the same steps to scripts (the browser test uses it).
'use strict';

const statusLine = document.getElementById('status');

function setStatus(text, isError = false) {
  statusLine.textContent = text;
  statusLine.className = isError ? 'error' : '';
}

/** RGBA bytes -> NCHW float32 in [-1, 1] with the model's channel count (x/127.5 - 1). */
function rgbaToTensorData(rgba, width, height, channels) {
  const plane = width * height;
  const out = new Float32Array(plane * channels);
  for (let p = 0; p < plane; p++) {
    const r = rgba[4 * p];
    const g = rgba[4 * p + 1];
    const b = rgba[4 * p + 2];
    if (channels === 1 || channels === 2) {
      // Rec. 709 luma, the weights libvips uses for sRGB -> b-w
      out[p] = Math.round(0.2126 * r + 0.7152 * g + 0.0722 * b) / 127.5 - 1;
      if (channels === 2) out[plane + p] = rgba[4 * p + 3] / 127.5 - 1;
    } else {
      out[p] = r / 127.5 - 1;
      out[plane + p] = g / 127.5 - 1;
      out[2 * plane + p] = b / 127.5 - 1;
      if (channels === 4) out[3 * plane + p] = rgba[4 * p + 3] / 127.5 - 1;
    }
  }
  return out;
}

/** NCHW float32 in [-1, 1] (first image) -> RGBA bytes for a canvas ((y + 1) * 127.5). */
function tensorDataToRgba(data, width, height, channels) {
  const plane = width * height;
  const rgba = new Uint8ClampedArray(plane * 4);
  const byte = (v) => Math.round((v + 1) * 127.5);
  for (let p = 0; p < plane; p++) {
    const gray = channels <= 2;
    rgba[4 * p] = byte(data[p]);
    rgba[4 * p + 1] = byte(gray ? data[p] : data[plane + p]);
    rgba[4 * p + 2] = byte(gray ? data[p] : data[2 * plane + p]);
    rgba[4 * p + 3] = channels === 2 ? byte(data[plane + p]) : channels === 4 ? byte(data[3 * plane + p]) : 255;
  }
  return rgba;
}

/** Decodes an image URL to RGBA at size x size; no colour management, so PNG bytes arrive unchanged. */
async function loadRgba(url, size) {
  const blob = await (await fetch(url)).blob();
  const bitmap = await createImageBitmap(blob, { colorSpaceConversion: 'none', premultiplyAlpha: 'none' });
  const canvas = document.getElementById('input');
  canvas.width = size;
  canvas.height = size;
  const context = canvas.getContext('2d', { willReadFrequently: true });
  context.imageSmoothingQuality = 'high';
  context.drawImage(bitmap, 0, 0, size, size);
  return context.getImageData(0, 0, size, size).data;
}

function draw(canvasId, rgba, width, height) {
  const canvas = document.getElementById(canvasId);
  canvas.width = width;
  canvas.height = height;
  canvas.getContext('2d').putImageData(new ImageData(rgba, width, height), 0, 0);
}

async function start() {
  const meta = await (await fetch('/model.json')).json();
  ort.env.wasm.wasmPaths = '/ort/';
  // one thread: worker threads would need cross-origin isolation headers on every page
  ort.env.wasm.numThreads = 1;
  const session = await ort.InferenceSession.create('/model.onnx', { executionProviders: ['wasm'] });
  const inC = Number(meta.input_channels);
  const outC = Number(meta.output_channels);
  const size = Number(meta.image_size);
  document.getElementById('model').textContent = `${meta.description || 'generator'} (${meta.generator || 'unknown'}, ${inC} -> ${outC} channels, ${size}x${size})`;

  async function translateUrl(url) {
    const rgba = await loadRgba(url, size);
    const input = rgbaToTensorData(rgba, size, size, inC);
    const feeds = { [session.inputNames[0]]: new ort.Tensor('float32', input, [1, inC, size, size]) };
    const started = performance.now();
    const result = await session.run(feeds);
    const ms = performance.now() - started;
    const output = result[session.outputNames[0]];
    const [, , h, w] = output.dims;
    draw('output', tensorDataToRgba(output.data, w, h, outC), w, h);
    setStatus(`translated in ${ms.toFixed(1)} ms`);
    return { input: Array.from(input), output: Array.from(output.data), dims: Array.from(output.dims), ms };
  }

  const fileInput = document.getElementById('file');
  fileInput.disabled = false;
  fileInput.addEventListener('change', () => {
    const file = fileInput.files[0];
    if (!file) return;
    const url = URL.createObjectURL(file);
    translateUrl(url)
      .catch((err) => setStatus(`cannot translate ${file.name}: ${err.message}`, true))
      .finally(() => URL.revokeObjectURL(url));
  });
  setStatus('choose an image');
  return { meta, translateUrl };
}

window.cgtrain = start();
window.cgtrain.catch((err) => setStatus(`cannot load the model: ${err.message}`, true));
