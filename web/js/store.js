/**
 * The one job this browser remembers, kept in localStorage under `mrimesh.job`
 * as `{"job_id": "...", "created_at": "<ISO 8601>"}`.
 *
 * Storage can be missing or refuse writes (private windows, disabled cookies, a full
 * quota). Every method then quietly does nothing: the page still works, it only
 * forgets the job when the tab closes.
 */

/** localStorage key of the remembered job. */
export const STORAGE_KEY = 'mrimesh.job';

/** How long the server keeps a job and its files, in milliseconds (24 h). */
export const JOB_LIFETIME_MS = 24 * 60 * 60 * 1000;

/**
 * The page's localStorage, or null where the browser denies it.
 * @returns {Storage|null}
 */
function openLocalStorage() {
  try {
    const storage = window.localStorage;
    const probe = `${STORAGE_KEY}.probe`;
    storage.setItem(probe, '1');
    storage.removeItem(probe);
    return storage;
  } catch {
    return null;
  }
}

/**
 * @typedef {object} StoredJob
 * @property {string} job_id the server's job id
 * @property {string} created_at when the server created the job (ISO 8601)
 */

export class JobStore {
  /**
   * @param {Storage|null} [storage] where to keep the entry; defaults to localStorage
   */
  constructor(storage = openLocalStorage()) {
    this.storage = storage;
  }

  /**
   * Whether the entry can survive a reload in this browser.
   * @returns {boolean}
   */
  get available() {
    return this.storage !== null;
  }

  /**
   * The remembered job, or null when none is stored or the entry is unreadable
   * (an unreadable entry is removed).
   * @returns {StoredJob|null}
   */
  load() {
    if (!this.storage) {
      return null;
    }
    let raw;
    try {
      raw = this.storage.getItem(STORAGE_KEY);
    } catch {
      return null;
    }
    if (raw === null) {
      return null;
    }
    try {
      const entry = JSON.parse(raw);
      if (
        entry &&
        typeof entry.job_id === 'string' &&
        entry.job_id !== '' &&
        typeof entry.created_at === 'string' &&
        !Number.isNaN(Date.parse(entry.created_at))
      ) {
        return { job_id: entry.job_id, created_at: entry.created_at };
      }
    } catch {
      // Not JSON: fall through and drop it.
    }
    this.clear();
    return null;
  }

  /**
   * Remember a job.
   * @param {StoredJob} job id and creation time from the server
   * @returns {boolean} whether it was stored
   */
  save(job) {
    if (!this.storage) {
      return false;
    }
    try {
      this.storage.setItem(
        STORAGE_KEY,
        JSON.stringify({ job_id: job.job_id, created_at: job.created_at }),
      );
      return true;
    } catch {
      return false;
    }
  }

  /**
   * Forget the remembered job.
   */
  clear() {
    if (!this.storage) {
      return;
    }
    try {
      this.storage.removeItem(STORAGE_KEY);
    } catch {
      // Nothing more we can do.
    }
  }
}

/**
 * Whether a stored job is past the server's lifetime and no longer worth offering.
 * @param {StoredJob} job the stored entry
 * @param {number} nowMs current time in epoch milliseconds
 * @returns {boolean}
 */
export function isPastLifetime(job, nowMs) {
  return nowMs - Date.parse(job.created_at) >= JOB_LIFETIME_MS;
}
