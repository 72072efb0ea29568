/**
 * Read single files out of a zip on the server, without a library.
 *
 * HTTP range requests fetch only the zip's directory and the one member wanted, so
 * previewing a mesh does not download the whole archive. A server that ignores ranges
 * answers 200 with the whole file; that works too, just with more bytes.
 * Members are inflated with the browser's DecompressionStream. Zip64 and encrypted
 * archives are not supported (the service writes neither).
 */

const EOCD_SIGNATURE = 0x06054b50;
const CENTRAL_SIGNATURE = 0x02014b50;
const LOCAL_SIGNATURE = 0x04034b50;
const EOCD_SIZE = 22;
/** The end record plus the longest possible archive comment, in bytes. */
const MAX_TAIL = EOCD_SIZE + 0xffff;
const LOCAL_HEADER_SIZE = 30;
const STORED = 0;
const DEFLATED = 8;

/** A zip that cannot be read here. */
export class ZipError extends Error {
  /**
   * @param {string} message what is wrong
   */
  constructor(message) {
    super(message);
    this.name = 'ZipError';
  }
}

/**
 * @typedef {object} ZipEntry
 * @property {string} name path inside the archive
 * @property {number} method 0 stored, 8 deflated
 * @property {number} compressedSize bytes in the archive
 * @property {number} size bytes once inflated
 * @property {number} localHeaderOffset where the member's local header starts
 */

/**
 * @typedef {object} ByteRange
 * @property {Uint8Array} bytes what arrived
 * @property {number} offset file offset of bytes[0]
 * @property {number} fileSize size of the whole file
 * @property {boolean} whole whether the server sent the whole file instead of the range
 */

/**
 * Fetch part of a file. `start < 0` asks for the last `-start` bytes.
 * @param {string} url file URL
 * @param {number} start first byte, or minus a suffix length
 * @param {number} [end] one past the last byte (ignored for a suffix)
 * @returns {Promise<ByteRange>}
 */
async function fetchRange(url, start, end) {
  const range = start < 0 ? `bytes=${start}` : `bytes=${start}-${end - 1}`;
  const response = await fetch(url, { headers: { Range: range }, cache: 'no-store' });
  if (response.status === 200) {
    const bytes = new Uint8Array(await response.arrayBuffer());
    return { bytes, offset: 0, fileSize: bytes.length, whole: true };
  }
  if (response.status !== 206) {
    const error = new ZipError(`The server answered HTTP ${response.status}.`);
    error.status = response.status;
    throw error;
  }
  const bytes = new Uint8Array(await response.arrayBuffer());
  const match = /bytes (\d+)-\d+\/(\d+)/.exec(response.headers.get('Content-Range') || '');
  if (!match) {
    throw new ZipError('The server sent a partial answer without saying which part.');
  }
  return { bytes, offset: Number(match[1]), fileSize: Number(match[2]), whole: false };
}

/**
 * A little-endian reader over bytes.
 * @param {Uint8Array} bytes the bytes
 * @returns {DataView}
 */
function view(bytes) {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/**
 * Parse the central directory.
 * @param {Uint8Array} bytes exactly the directory
 * @param {number} count number of entries the end record announced
 * @returns {ZipEntry[]}
 */
function parseDirectory(bytes, count) {
  const data = view(bytes);
  const decoder = new TextDecoder();
  const entries = [];
  let pos = 0;
  for (let i = 0; i < count; i += 1) {
    if (pos + 46 > bytes.length || data.getUint32(pos, true) !== CENTRAL_SIGNATURE) {
      throw new ZipError('The zip directory is damaged.');
    }
    const flags = data.getUint16(pos + 8, true);
    const method = data.getUint16(pos + 10, true);
    const compressedSize = data.getUint32(pos + 20, true);
    const size = data.getUint32(pos + 24, true);
    const nameLength = data.getUint16(pos + 28, true);
    const extraLength = data.getUint16(pos + 30, true);
    const commentLength = data.getUint16(pos + 32, true);
    const localHeaderOffset = data.getUint32(pos + 42, true);
    const name = decoder.decode(bytes.subarray(pos + 46, pos + 46 + nameLength));
    if (!(flags & 1)) {
      entries.push({ name, method, compressedSize, size, localHeaderOffset });
    }
    pos += 46 + nameLength + extraLength + commentLength;
  }
  return entries;
}

/**
 * Inflate raw deflate data with the browser's DecompressionStream.
 * @param {Uint8Array} bytes deflated bytes
 * @returns {Promise<ArrayBuffer>}
 */
async function inflate(bytes) {
  if (typeof DecompressionStream === 'undefined') {
    throw new ZipError('This browser cannot unpack zip files.');
  }
  const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream('deflate-raw'));
  return new Response(stream).arrayBuffer();
}

export class RemoteZip {
  /**
   * Use {@link RemoteZip.open}.
   * @param {string} url archive URL
   * @param {ZipEntry[]} entries its members
   * @param {Uint8Array|null} whole the whole archive, when the server sent it all
   */
  constructor(url, entries, whole) {
    this.url = url;
    this.entries = entries;
    this.whole = whole;
  }

  /**
   * Read a remote zip's directory.
   * @param {string} url archive URL
   * @returns {Promise<RemoteZip>}
   * @throws {ZipError} when it is not a zip this reader understands, or the request fails
   */
  static async open(url) {
    const tail = await fetchRange(url, -MAX_TAIL);
    const tailView = view(tail.bytes);
    let eocd = -1;
    for (let i = tail.bytes.length - EOCD_SIZE; i >= 0; i -= 1) {
      if (tailView.getUint32(i, true) === EOCD_SIGNATURE) {
        eocd = i;
        break;
      }
    }
    if (eocd < 0) {
      throw new ZipError('The download is not a zip file.');
    }
    const count = tailView.getUint16(eocd + 10, true);
    const directorySize = tailView.getUint32(eocd + 12, true);
    const directoryOffset = tailView.getUint32(eocd + 16, true);
    if (count === 0xffff || directoryOffset === 0xffffffff) {
      throw new ZipError('This zip is too large to preview here.');
    }
    let directory;
    const start = directoryOffset - tail.offset;
    if (start >= 0 && start + directorySize <= tail.bytes.length) {
      directory = tail.bytes.subarray(start, start + directorySize);
    } else {
      directory = (await fetchRange(url, directoryOffset, directoryOffset + directorySize)).bytes;
    }
    return new RemoteZip(url, parseDirectory(directory, count), tail.whole ? tail.bytes : null);
  }

  /**
   * Bytes `[start, end)` of the archive.
   * @param {number} start first byte
   * @param {number} end one past the last byte
   * @returns {Promise<Uint8Array>}
   */
  async bytes(start, end) {
    if (this.whole) {
      return this.whole.subarray(start, end);
    }
    return (await fetchRange(this.url, start, end)).bytes;
  }

  /**
   * One member, inflated.
   * @param {ZipEntry} entry a member from `entries`
   * @returns {Promise<ArrayBuffer>}
   */
  async read(entry) {
    const header = await this.bytes(
      entry.localHeaderOffset,
      entry.localHeaderOffset + LOCAL_HEADER_SIZE,
    );
    const data = view(header);
    if (header.length < LOCAL_HEADER_SIZE || data.getUint32(0, true) !== LOCAL_SIGNATURE) {
      throw new ZipError(`The zip entry ${entry.name} is damaged.`);
    }
    const start =
      entry.localHeaderOffset +
      LOCAL_HEADER_SIZE +
      data.getUint16(26, true) +
      data.getUint16(28, true);
    const body = await this.bytes(start, start + entry.compressedSize);
    if (entry.method === STORED) {
      return body.slice().buffer;
    }
    if (entry.method === DEFLATED) {
      return inflate(body);
    }
    throw new ZipError(`The zip entry ${entry.name} uses an unsupported compression.`);
  }
}
