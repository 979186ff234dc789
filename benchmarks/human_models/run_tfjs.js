// Runs a TensorFlow.js graph model (its own runtime, CPU backend) on NHWC float32 chips; writes float32 outputs.
const tf = require('@tensorflow/tfjs');
const fs = require('fs'); const path = require('path');
const [modelJson, chipsFile, n, size, outName, outFile] = process.argv.slice(2);
const model = JSON.parse(fs.readFileSync(modelJson));
const dir = path.dirname(modelJson);
const specs = []; const buffers = [];
for (const group of model.weightsManifest) { specs.push(...group.weights); for (const p of group.paths) buffers.push(fs.readFileSync(path.join(dir, p))); }
const w = Buffer.concat(buffers);
const handler = { load: async () => ({ modelTopology: model.modelTopology, weightSpecs: specs,
  weightData: w.buffer.slice(w.byteOffset, w.byteOffset + w.byteLength), format: model.format,
  generatedBy: model.generatedBy, convertedBy: model.convertedBy, signature: model.signature, userDefinedMetadata: model.userDefinedMetadata }) };
(async () => {
  await tf.setBackend('cpu');
  const g = await tf.loadGraphModel(handler);
  const raw = fs.readFileSync(chipsFile);
  const x = tf.tensor(new Float32Array(raw.buffer, raw.byteOffset, raw.length / 4), [+n, +size, +size, 3]);
  const y = outName && outName !== '-' ? g.execute(x, outName) : g.execute(x);
  const out = Array.isArray(y) ? y[0] : y;
  fs.writeFileSync(outFile, Buffer.from((await out.data()).buffer));
  console.log(JSON.stringify(out.shape));
})();
