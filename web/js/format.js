/**
 * Numbers, durations and ages in the words a person reads.
 *
 * Pure functions, no DOM and no clock of their own: callers pass "now" in, so every
 * function here is deterministic and testable on its own.
 */

const SECOND = 1;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

const integer = new Intl.NumberFormat('en', { maximumFractionDigits: 0 });
const oneDecimal = new Intl.NumberFormat('en', {
  minimumFractionDigits: 1,
  maximumFractionDigits: 1,
});

/**
 * "1 minute", "3 minutes".
 * @param {number} count whole number of units
 * @param {string} unit singular unit name
 * @returns {string}
 */
function plural(count, unit) {
  return `${count} ${unit}${count === 1 ? '' : 's'}`;
}

/**
 * A remaining time as a rough estimate: "less than a minute", "about 3 minutes",
 * "about 2 hours". Returns null when there is no estimate, so the caller can say
 * "estimating…" instead of inventing a number.
 * @param {number|null|undefined} seconds remaining time in seconds
 * @returns {string|null}
 */
export function formatRemaining(seconds) {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) {
    return null;
  }
  if (seconds < MINUTE) {
    return 'less than a minute';
  }
  if (seconds < 50 * MINUTE) {
    return `about ${plural(Math.round(seconds / MINUTE), 'minute')}`;
  }
  if (seconds < 20 * HOUR) {
    return `about ${plural(Math.max(1, Math.round(seconds / HOUR)), 'hour')}`;
  }
  return `about ${plural(Math.max(1, Math.round(seconds / DAY)), 'day')}`;
}

/**
 * How long ago something happened: "just now", "5 minutes ago", "2 hours ago",
 * "1 day ago". A time slightly in the future (a fast server clock) reads "just now".
 * @param {number} ageSeconds elapsed time in seconds
 * @returns {string}
 */
export function formatAge(ageSeconds) {
  if (!Number.isFinite(ageSeconds) || ageSeconds < MINUTE) {
    return 'just now';
  }
  if (ageSeconds < HOUR) {
    return `${plural(Math.floor(ageSeconds / MINUTE), 'minute')} ago`;
  }
  if (ageSeconds < DAY) {
    return `${plural(Math.floor(ageSeconds / HOUR), 'hour')} ago`;
  }
  return `${plural(Math.floor(ageSeconds / DAY), 'day')} ago`;
}

/**
 * An elapsed duration, precise enough for a summary: "42 seconds", "3 min 5 s", "1 h 12 min".
 * @param {number} seconds duration in seconds
 * @returns {string}
 */
export function formatElapsed(seconds) {
  if (!Number.isFinite(seconds) || seconds < 0) {
    return '';
  }
  const total = Math.round(seconds);
  if (total < MINUTE) {
    return plural(total, 'second');
  }
  if (total < HOUR) {
    const s = total % MINUTE;
    return s ? `${Math.floor(total / MINUTE)} min ${s} s` : `${Math.floor(total / MINUTE)} min`;
  }
  const m = Math.floor((total % HOUR) / MINUTE);
  return m ? `${Math.floor(total / HOUR)} h ${m} min` : `${Math.floor(total / HOUR)} h`;
}

/**
 * English ordinal: 1st, 2nd, 3rd, 4th, 11th, 12th, 13th, 21st, 101st.
 * @param {number} n a positive whole number
 * @returns {string}
 */
export function ordinal(n) {
  const mod100 = n % 100;
  if (mod100 >= 11 && mod100 <= 13) {
    return `${n}th`;
  }
  switch (n % 10) {
    case 1:
      return `${n}st`;
    case 2:
      return `${n}nd`;
    case 3:
      return `${n}rd`;
    default:
      return `${n}th`;
  }
}

/**
 * Queue position in words: "You are next in line", "You are 3rd in line".
 * @param {number} position 1-based position in the queue
 * @returns {string}
 */
export function formatQueuePosition(position) {
  if (position <= 1) {
    return 'You are next in line';
  }
  return `You are ${ordinal(position)} in line`;
}

/**
 * A byte count as file managers on most desktops show it, in binary multiples with the
 * familiar labels (1 GB = 1024³ bytes): "812 bytes", "4.2 MB", "1.0 GB".
 * @param {number} bytes size in bytes
 * @returns {string}
 */
export function formatBytes(bytes) {
  if (!Number.isFinite(bytes) || bytes < 0) {
    return '';
  }
  if (bytes < 1024) {
    return plural(Math.round(bytes), 'byte');
  }
  const units = ['KB', 'MB', 'GB', 'TB'];
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${oneDecimal.format(value)} ${units[unit]}`;
}

/**
 * A volume in millilitres: "1,234.5 mL"; an unknown volume reads as an en dash.
 * @param {number|null|undefined} ml volume in mL
 * @returns {string}
 */
export function formatVolume(ml) {
  if (ml === null || ml === undefined || !Number.isFinite(ml)) {
    return '–';
  }
  return `${oneDecimal.format(ml)} mL`;
}

/**
 * A whole count with thousands separators: "123,456"; unknown reads as an en dash.
 * @param {number|null|undefined} n count
 * @returns {string}
 */
export function formatCount(n) {
  if (n === null || n === undefined || !Number.isFinite(n)) {
    return '–';
  }
  return integer.format(n);
}

/**
 * Seconds between an ISO 8601 timestamp and "now".
 * @param {string} iso timestamp, e.g. "2025-01-15T10:30:00Z"
 * @param {number} nowMs current time in epoch milliseconds
 * @returns {number} age in seconds (NaN when the timestamp cannot be read)
 */
export function secondsSince(iso, nowMs) {
  return (nowMs - Date.parse(iso)) / 1000;
}
