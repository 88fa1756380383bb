// Talking to otlpy's APIs: JSON over fetch, with errors that say what went wrong.

export class ApiError extends Error {
  constructor(message, status) {
    super(message);
    this.status = status;
  }
}

export async function getJSON(path, params = {}, { signal } = {}) {
  const url = new URL(path, window.location.origin);
  for (const [key, value] of Object.entries(params)) {
    if (value === undefined || value === null || value === "") continue;
    url.searchParams.set(key, value);
  }
  let response;
  try {
    response = await fetch(url, { signal, headers: { Accept: "application/json" } });
  } catch (error) {
    if (error.name === "AbortError") throw error;
    throw new ApiError("otlpy is not reachable: is it still running?", 0);
  }
  let body = null;
  try {
    body = await response.json();
  } catch {
    // a non-JSON body is reported by status below
  }
  if (!response.ok) {
    const message =
      body?.error?.message || body?.errors?.[0]?.msg || `${response.status} ${response.statusText}`;
    throw new ApiError(message, response.status);
  }
  return body;
}

export const api = {
  info: (opts) => getJSON("/api/otlpy/info", {}, opts),
  services: async (opts) => (await getJSON("/api/services", {}, opts)).data || [],
  operations: async (service, opts) =>
    (await getJSON("/api/operations", { service }, opts)).data || [],
  traces: (params, opts) => getJSON("/api/otlpy/traces", params, opts),
  trace: (id, opts) => getJSON(`/api/otlpy/traces/${encodeURIComponent(id)}`, {}, opts),
  logs: (params, opts) => getJSON("/api/otlpy/logs", params, opts),
  tail: (params, opts) => getJSON("/api/otlpy/logs/tail", params, opts),
  metrics: (opts) => getJSON("/api/otlpy/metrics", {}, opts),
  series: (params, opts) => getJSON("/api/otlpy/metrics/series", params, opts),
  histogram: (params, opts) => getJSON("/api/otlpy/metrics/histogram", params, opts),
  dependencies: (params, opts) => getJSON("/api/dependencies", params, opts),
};
