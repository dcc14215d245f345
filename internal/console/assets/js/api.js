// The API client: every call is a POST of a JSON body to kcid's API
// (Action and Version in the query), signed with SigV4 in the browser.
import { sign, uriEncode } from "./sigv4.js";

const versions = { kci: "2020-07-02", vpc: "2016-03-04" };
const storageKey = "kci.console.credentials";

// The API is served at the root of the console's origin (the console lives
// at <base>/console/).
export const apiPath = location.pathname.replace(/console\/.*$/, "");

export function credentials() {
  try {
    return JSON.parse(sessionStorage.getItem(storageKey) || "null");
  } catch {
    return null;
  }
}

export function saveCredentials(c) {
  sessionStorage.setItem(storageKey, JSON.stringify(c));
}

export function forgetCredentials() {
  sessionStorage.removeItem(storageKey);
}

// APIError is a refusal in words: the KCI code, the message, the request ID
// and, when the message names one, the wire parameter it is about.
export class APIError extends Error {
  constructor({ status, code, message, requestId, param }) {
    super(message);
    this.status = status;
    this.code = code;
    this.requestId = requestId;
    this.param = param;
  }
  describe() {
    let s = this.message;
    if (this.code) s += ` (${this.code}`;
    if (this.requestId) s += `${this.code ? ", " : " ("}request ID ${this.requestId}`;
    if (this.code || this.requestId) s += ")";
    return s;
  }
}

// paramOf finds the wire parameter a KCI error message names
// ("… for the input parameter Container.1.Name: …").
export function paramOf(message) {
  const m = /(?:input|query) parameter ([A-Za-z][A-Za-z0-9]*(?:\.[A-Za-z0-9]+)*)/.exec(message || "");
  return m ? m[1] : "";
}

// call runs one action. params is the JSON body (lists as arrays, counted
// from 1 on the wire). creds defaults to the signed-in key.
export async function call(action, params = {}, { service = "kci", creds = credentials() } = {}) {
  if (!creds) throw new APIError({ message: "Not signed in.", code: "" });
  const query = [["Action", action], ["Version", versions[service]]];
  const body = JSON.stringify(params);
  const headers = { "content-type": "application/json" };
  const signed = await sign({
    method: "POST", host: location.host, path: apiPath, query, headers, body,
    accessKeyId: creds.accessKeyId, secret: creds.secret, region: creds.region, service,
  });
  const qs = query.map(([k, v]) => uriEncode(k) + "=" + uriEncode(v)).join("&");
  let resp;
  try {
    resp = await fetch(apiPath + "?" + qs, {
      method: "POST", body, cache: "no-store", credentials: "omit",
      headers: { "Content-Type": headers["content-type"], ...signed },
    });
  } catch (e) {
    throw new APIError({ message: `kcid did not answer ${action}: ${e.message}. Check that kcid runs and the network.` });
  }
  const text = await resp.text();
  let data = null;
  try {
    data = JSON.parse(text);
  } catch {
    // not JSON: a proxy's page, or a dead kcid
  }
  const requestId = (data && data.RequestId) || resp.headers.get("X-Kci-Request-Id") || "";
  if (!resp.ok || !data || data.Error) {
    const err = (data && data.Error) || {};
    const message = err.Message || `${action} answered HTTP ${resp.status} ${resp.statusText}${text ? ": " + text.slice(0, 200) : ""}`;
    throw new APIError({ status: resp.status, code: err.Code || "", message, requestId, param: paramOf(err.Message) });
  }
  return data;
}
