// CRC64/NVME: hash-wasm with the NVMe polynomial, our combine step, against AWS's own JS implementation.
import assert from "node:assert/strict";
import { test } from "node:test";
import { Crc64Nvme } from "@aws-sdk/crc64-nvme";
import { createCRC64 } from "hash-wasm";
import { combineAll, combineCrc64, crcBytes, crcFromBytes, CRC64NVME_POLYNOMIAL, toBase64 } from "../src/crc64.js";

function bytes(length, seed = 7) {
  const out = new Uint8Array(length);
  let state = seed;
  for (let i = 0; i < length; i++) { state = (Math.imul(state, 1103515245) + 12345) >>> 0; out[i] = state >>> 24; }
  return out;
}

async function awsCrc(data) {
  const hasher = new Crc64Nvme();
  hasher.update(data);
  return crcFromBytes(await hasher.digest());
}

async function wasmCrc(data) {
  const hasher = await createCRC64(CRC64NVME_POLYNOMIAL);
  hasher.init();
  hasher.update(data);
  return crcFromBytes(hasher.digest("binary"));
}

test("hash-wasm with the NVMe polynomial gives the catalogued check value and AWS's result", async () => {
  // Given the standard check input and a random buffer
  const check = new TextEncoder().encode("123456789");
  const data = bytes(100_003);

  // When both libraries hash them
  // Then they agree, and "123456789" gives CRC-64/NVME's catalogued check value
  assert.equal(await wasmCrc(check), 0xae8b14860a799888n);
  assert.equal(await wasmCrc(data), await awsCrc(data));
});

test("combining part CRCs gives the whole buffer's CRC, for any split", async () => {
  // Given a buffer cut at uneven places, and into equal parts with a short last one
  const data = bytes(70_001, 42);
  const whole = await awsCrc(data);
  for (const cuts of [[1], [35_000], [1, 2, 3, 69_999], [8_192, 16_384, 24_576, 32_768, 40_960, 49_152, 57_344, 65_536]]) {
    const bounds = [0, ...cuts, data.length];
    const ranges = [];
    for (let i = 0; i + 1 < bounds.length; i++) {
      const part = data.subarray(bounds[i], bounds[i + 1]);
      ranges.push({ crc: await wasmCrc(part), length: part.length });
    }

    // When the part CRCs are combined
    // Then the result is the CRC of the whole buffer
    assert.equal(combineAll(ranges), whole, `cuts ${cuts}`);
  }
  // And combining with an empty range changes nothing
  assert.equal(combineCrc64(whole, 0n, 0), whole);
});

test("CRCs travel as base64 of 8 big-endian bytes, as S3 sends x-amz-checksum-crc64nvme", () => {
  // Given the check value of "123456789"
  // When it is encoded
  // Then it is the base64 of its big-endian bytes, and decodes back
  assert.equal(toBase64(crcBytes(0xae8b14860a799888n)), Buffer.from("ae8b14860a799888", "hex").toString("base64"));
  assert.equal(crcFromBytes(crcBytes(0x0123456789abcdefn)), 0x0123456789abcdefn);
});
