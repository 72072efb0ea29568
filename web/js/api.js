/**
 * Every request the page makes to the mrimesh API.
 *
 * URLs are relative to the page, so the page works wherever the API mounts it.
 * Failures are thrown as {@link ApiError} carrying the server's human-readable
 * message and machine-readable code (`{"error": "...", "code": "..."}`).
 */

/** What to say when the server no longer knows a job. */
export const GONE_MESSAGE = 'This job has expired or was not found.';

/** Messages for failures where the server sent no JSON error of its own. */
const FALLBACK_MESSAGES = {
  0: 'Could not reach the server. Check your connection and try again.',
  404: GONE_MESSAGE,
  409: 'The job is not finished yet.',
  410: GONE_MESSAGE,
  413: 'The file is too large for this server.',
  429: 'Too many requests right now. Please wait a minute and try again.',
  502: 'The server is not answering right now. Please try again shortly.',
  503: 'The service is temporarily unavailable. Please try again shortly.',
  504: 'The server took too long to answer. Please try again.',
};

/** A failed API call, with what the server said about it. */
export class ApiError extends Error {
  /**
   * @param {string} message human-readable message, safe to show
   * @param {{status?: number, code?: string, option?: string|null}} [details] HTTP status
   *   (0: no response), error slug, and the request option the error is about (a 422's)
   */
  constructor(message, { status = 0, code = 'network_error', option = null } = {}) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.option = option;
  }

  /**
   * Whether the server no longer knows this job (unknown, malformed or expired id).
   * @returns {boolean}
   */
  get jobGone() {
    return this.status === 404 || this.status === 410;
  }
}

/**
 * Build an ApiError from a non-2xx response body.
 * @param {number} status HTTP status
 * @param {string} bodyText raw response body
 * @returns {ApiError}
 */
function errorFromBody(status, bodyText) {
  let message = '';
  let code = `http_${status}`;
  let option = null;
  try {
    const body = JSON.parse(bodyText);
    if (body && typeof body.error === 'string' && body.error.trim() !== '') {
      message = body.error;
    }
    if (body && typeof body.code === 'string') {
      code = body.code;
    }
    const named = body && (body.option ?? body.field);
    if (typeof named === 'string') {
      option = named;
    }
  } catch {
    // Not JSON (a proxy's HTML page, say): use the fallback message.
  }
  if (!message) {
    message =
      FALLBACK_MESSAGES[status] || `The server could not handle the request (HTTP ${status}).`;
  }
  return new ApiError(message, { status, code, option });
}

/**
 * Send a request with the page's defaults (no cache, same-origin credentials).
 * @param {string} url relative URL
 * @param {RequestInit} [init] fetch options
 * @returns {Promise<Response>} the response, whatever its status
 * @throws {ApiError} when the server cannot be reached
 */
async function send(url, init = {}) {
  try {
    return await fetch(url, { cache: 'no-store', credentials: 'same-origin', ...init });
  } catch {
    throw new ApiError(FALLBACK_MESSAGES[0]);
  }
}

/**
 * Send a request and parse its JSON answer.
 * @param {string} url relative URL
 * @param {RequestInit} [init] fetch options
 * @returns {Promise<object>} the parsed body
 * @throws {ApiError}
 */
async function requestJson(url, init = {}) {
  const response = await send(url, {
    ...init,
    headers: { Accept: 'application/json', ...(init.headers || {}) },
  });
  const text = await response.text().catch(() => '');
  if (!response.ok) {
    throw errorFromBody(response.status, text);
  }
  try {
    return JSON.parse(text);
  } catch {
    throw new ApiError('The server sent an answer the page could not read.', {
      status: response.status,
      code: 'bad_response',
    });
  }
}

/**
 * Path segment for a job id.
 * @param {string} jobId job id
 * @returns {string}
 */
function jobPath(jobId) {
  return encodeURIComponent(jobId);
}

/**
 * @typedef {object} UploadHandle
 * @property {Promise<object>} done resolves with the `202` body (`job_id`, `created_at`, …)
 * @property {() => void} abort stops the upload; `done` then rejects with code `aborted`
 */

/**
 * Upload a scan with XMLHttpRequest, which (unlike fetch) reports bytes sent.
 * @param {File} file the scan
 * @param {(sent: number, total: number) => void} onProgress called as bytes leave the browser
 * @param {Record<string, string>} [fields] print options as form fields (lists comma-joined),
 *   sent before the file so the server can refuse them before reading it
 * @returns {UploadHandle}
 */
export function uploadScan(file, onProgress, fields = {}) {
  const xhr = new XMLHttpRequest();
  const done = new Promise((resolve, reject) => {
    xhr.open('POST', 'upload');
    xhr.setRequestHeader('Accept', 'application/json');
    xhr.upload.addEventListener('progress', (event) => {
      onProgress(event.loaded, event.lengthComputable ? event.total : file.size);
    });
    xhr.addEventListener('load', () => {
      if (xhr.status >= 200 && xhr.status < 300) {
        try {
          resolve(JSON.parse(xhr.responseText));
        } catch {
          reject(
            new ApiError('The server sent an answer the page could not read.', {
              status: xhr.status,
              code: 'bad_response',
            }),
          );
        }
      } else {
        reject(errorFromBody(xhr.status, xhr.responseText));
      }
    });
    xhr.addEventListener('error', () => reject(new ApiError(FALLBACK_MESSAGES[0])));
    xhr.addEventListener('timeout', () =>
      reject(new ApiError(FALLBACK_MESSAGES[504], { status: 0, code: 'timeout' })),
    );
    xhr.addEventListener('abort', () =>
      reject(new ApiError('Upload cancelled.', { status: 0, code: 'aborted' })),
    );
    const form = new FormData();
    for (const [name, value] of Object.entries(fields)) {
      form.append(name, value);
    }
    form.append('file', file, file.name);
    xhr.send(form);
  });
  return { done, abort: () => xhr.abort() };
}

/**
 * Current state of a job (`GET status/<id>`).
 * @param {string} jobId job id
 * @returns {Promise<object>} the status body
 * @throws {ApiError} with `jobGone` true when the server does not know the job
 */
export function fetchStatus(jobId) {
  return requestJson(`status/${jobPath(jobId)}`);
}

/**
 * Cancel a queued or running job (`DELETE jobs/<id>`).
 * @param {string} jobId job id
 * @returns {Promise<object>} `{"job_id", "status": "cancelled"}`
 * @throws {ApiError} code `already_finished` when the job had already ended
 */
export function cancelJob(jobId) {
  return requestJson(`jobs/${jobPath(jobId)}`, { method: 'DELETE' });
}

/**
 * Check that the result zip can be downloaded (`HEAD download/<id>`), so a gone or
 * unfinished job is reported on the page instead of as a failed browser download.
 * @param {string} jobId job id
 * @returns {Promise<void>}
 * @throws {ApiError} `jobGone` for 404/410, status 409 while the job is not finished
 */
export async function checkDownload(jobId) {
  const response = await send(downloadUrl(jobId), { method: 'HEAD' });
  if (!response.ok) {
    throw errorFromBody(response.status, '');
  }
}

/**
 * Where the result zip of a completed job is downloaded from.
 * @param {string} jobId job id
 * @returns {string} relative URL
 */
export function downloadUrl(jobId) {
  return `download/${jobPath(jobId)}`;
}

/**
 * Where one of a completed job's result files is served from (`GET jobs/<id>/files/<name>`):
 * the brain-only scan `brain.nii.gz`, the label map `labels.nii.gz`, each mesh, `report.json`.
 * @param {string} jobId job id
 * @param {string} name file name, e.g. "white_matter.stl"
 * @returns {string} relative URL
 */
export function fileUrl(jobId, name) {
  return `jobs/${jobPath(jobId)}/files/${encodeURIComponent(name)}`;
}

/**
 * Fetch one result file (the viewers read them as buffers).
 * @param {string} jobId job id
 * @param {string} name file name
 * @returns {Promise<ArrayBuffer>} the file's bytes
 * @throws {ApiError} with the server's code: `not_found` (unknown job or file name),
 *   `not_ready` (409, the job has not completed), `expired` or `gone` (410: the job's files
 *   were deleted, or this file does not exist)
 */
export async function fetchFile(jobId, name) {
  const response = await send(fileUrl(jobId, name));
  if (!response.ok) {
    throw errorFromBody(response.status, await response.text().catch(() => ''));
  }
  return response.arrayBuffer();
}

/**
 * Make a completed job's meshes again with other print options, without segmenting again
 * (`POST jobs/<id>/meshes`). The answer is a new job to follow like an upload's.
 * @param {string} jobId the completed job whose label map is reused
 * @param {object} options print options: `structures`, `formats`, `hollow_mm`,
 *   `scale_percent` or `longest_side_mm`, `smoothing`, `target_triangles`
 * @returns {Promise<object>} the `202` body (`job_id`, `created_at`, …)
 * @throws {ApiError} status 422 (code `invalid_option`) naming the option that is wrong
 */
export function remakeMeshes(jobId, options) {
  return requestJson(`jobs/${jobPath(jobId)}/meshes`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(options),
  });
}

/**
 * Service-wide counters (`GET stats`).
 * @returns {Promise<object>} counters such as `total_jobs`, `completed_jobs` and
 *   `average_processing_time_seconds`
 */
export function fetchStats() {
  return requestJson('stats');
}
