// Vectors in an export file: base64 of the little-endian float32 array, the layout sqlite-vec stores, whatever the
// machine's byte order.

/** A vector as base64 of its little-endian float32 bytes. */
export function encodeVector(vector: Float32Array): string {
  const bytes = Buffer.alloc(vector.length * 4);
  for (let index = 0; index < vector.length; index += 1)
    bytes.writeFloatLE(vector[index] as number, index * 4);
  return bytes.toString('base64');
}

/** The float32 array a base64 vector holds; throws when its length is not `dimensions` floats. */
export function decodeVector(base64: string, dimensions: number): Float32Array {
  const bytes = Buffer.from(base64, 'base64');
  if (bytes.length !== dimensions * 4) {
    throw new Error(`the vector holds ${bytes.length / 4} numbers, the embedding space ${dimensions}`);
  }
  const vector = new Float32Array(dimensions);
  for (let index = 0; index < dimensions; index += 1) vector[index] = bytes.readFloatLE(index * 4);
  return vector;
}
