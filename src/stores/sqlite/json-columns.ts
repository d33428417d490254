// Values as SQLite columns hold them: JSON as TEXT (undefined and null as SQL NULL; read through rows/columns.ts),
// vectors as BLOBs.

export function toJson(value: unknown): string | null {
  return value === undefined || value === null ? null : JSON.stringify(value);
}

/** Float32Array <-> BLOB in the little-endian float32 layout sqlite-vec reads. */
export function vectorBlob(vector: Float32Array): Uint8Array {
  return new Uint8Array(vector.buffer, vector.byteOffset, vector.byteLength);
}
