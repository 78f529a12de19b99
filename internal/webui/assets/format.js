// How values of the API are shown.

const UNITS = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];

// bytes formats a size (a number or the API's int64 string) in binary
// units: "512 B", "1.5 MiB".
export function bytes(v) {
  let n = Number(v ?? 0);
  let i = 0;
  while (n >= 1024 && i < UNITS.length - 1) {
    n /= 1024;
    i++;
  }
  return i === 0 ? `${n} B` : `${n < 10 ? n.toFixed(1) : Math.round(n)} ${UNITS[i]}`;
}

const relative = new Intl.RelativeTimeFormat(undefined, { numeric: "auto" });
const STEPS = [
  [60, "second"],
  [60, "minute"],
  [24, "hour"],
  [365, "day"],
  [Infinity, "year"],
];

// JUST_NOW is how close to now, in seconds, a time is "just now", as the
// command line says it.
const JUST_NOW = 10;

// ago formats a timestamp relative to now: "just now", "5 minutes ago",
// "yesterday".
export function ago(ts) {
  const t = Date.parse(ts);
  if (!Number.isFinite(t)) return "";
  let d = (t - Date.now()) / 1000;
  if (Math.abs(d) < JUST_NOW) return "just now";
  for (const [size, unit] of STEPS) {
    if (Math.abs(d) < size) return relative.format(Math.round(d), unit);
    d /= size;
  }
  return "";
}

const dateTime = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });

// when formats a timestamp as a local date and time.
export function when(ts) {
  const t = Date.parse(ts);
  return Number.isFinite(t) ? dateTime.format(t) : "";
}

// shortHash is the first 12 hex digits of a SHA-256, as the CLI shows it.
export function shortHash(sha256) {
  return (sha256 ?? "").slice(0, 12);
}

// splitName splits a shared file's slash-separated name into its folder
// ("music/" or "") and base name.
export function splitName(name) {
  const i = name.lastIndexOf("/");
  return [name.slice(0, i + 1), name.slice(i + 1)];
}
