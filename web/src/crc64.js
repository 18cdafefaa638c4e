// CRC64/NVME arithmetic that hashing libraries do not offer: combining the CRCs of adjacent
// byte ranges into the CRC of their concatenation (the way S3 derives a full-object CRC64NVME
// from part CRCs). The bytes themselves are hashed by hash-wasm (see hashing.js).
//
// CRC64/NVME is reflected with init and xorout all ones; for such CRCs
//   crc(A ‖ B) = crc(A) · x^(8·|B|) mod P  ⊕  crc(B)
// (zlib's crc32_combine, widened to 64 bits). BigInt keeps it readable: it runs once per part.

/** The reflected CRC64/NVME polynomial (hash-wasm takes it as this hex string). */
export const CRC64NVME_POLYNOMIAL = "9a6c9329ac4bc9b5";
const POLY = BigInt(`0x${CRC64NVME_POLYNOMIAL}`);
const TOP = 1n << 63n;
const MASK = (1n << 64n) - 1n;

/** a(x)·b(x) mod P, both reflected. */
function multiplyMod(a, b) {
  let product = 0n;
  for (let bit = TOP; bit; bit >>= 1n) {
    if (a & bit) {
      product ^= b;
      if ((a & (bit - 1n)) === 0n) break;
    }
    b = b & 1n ? (b >> 1n) ^ POLY : b >> 1n;
  }
  return product & MASK;
}

/** x^(8·bytes) mod P: the operator that shifts a CRC over `bytes` zero bytes. */
export function shiftOperator(bytes) {
  let result = TOP; // x^0
  let square = TOP >> 8n; // x^8: one byte (reflected: x^k is TOP >> k)
  for (let n = BigInt(bytes); n; n >>= 1n) {
    if (n & 1n) result = multiplyMod(square, result);
    square = multiplyMod(square, square);
  }
  return result;
}

/**
 * The CRC64/NVME of A ‖ B from crc(A), crc(B) and |B|.
 * @param {bigint} crcA
 * @param {bigint} crcB
 * @param {number | bigint} lengthB bytes in B
 * @param {bigint} [operator] `shiftOperator(lengthB)`, when the caller reuses it (equal parts)
 * @returns {bigint}
 */
export function combineCrc64(crcA, crcB, lengthB, operator = shiftOperator(lengthB)) {
  return multiplyMod(operator, crcA) ^ crcB;
}

/**
 * The CRC64/NVME of consecutive ranges, from each range's CRC and length.
 * @param {Array<{crc: bigint, length: number}>} ranges in order
 * @returns {bigint}
 */
export function combineAll(ranges) {
  if (!ranges.length) return 0n; // the CRC of no bytes
  const operators = new Map();
  let crc = ranges[0].crc;
  for (const { crc: next, length } of ranges.slice(1)) {
    if (!operators.has(length)) operators.set(length, shiftOperator(length));
    crc = combineCrc64(crc, next, length, operators.get(length));
  }
  return crc;
}

/** 8 big-endian bytes of a CRC, as S3 transmits it. */
export function crcBytes(crc) {
  const bytes = new Uint8Array(8);
  new DataView(bytes.buffer).setBigUint64(0, crc);
  return bytes;
}

/** A CRC from its 8 big-endian bytes. */
export function crcFromBytes(bytes) {
  return new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0);
}

/** Base64 of bytes (what the API and S3 take for every digest). */
export function toBase64(bytes) {
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary);
}

/** Bytes from base64. */
export function fromBase64(text) {
  return Uint8Array.from(atob(text), (char) => char.charCodeAt(0));
}
