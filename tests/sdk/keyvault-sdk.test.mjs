// Azure's official JavaScript SDK (@azure/keyvault-keys, @azure/identity),
// unmodified, against atrest's loopback Key Vault ("atrest vault serve").
//
// Run by scripts/sdk-test.sh (make check-sdk), which starts the server (with
// --admin, --managed-identity, --client-cert and --federated) and sets
// VAULT_URL, VAULT_CA, VAULT_TENANT, VAULT_CLIENT_ID, VAULT_CLIENT_SECRET_FILE,
// VAULT_ADMIN_TOKEN_FILE, VAULT_MI_CLIENT_ID, VAULT_CERT_CLIENT_ID,
// VAULT_CERT_PEM, VAULT_OTHER_CERT_PEM, VAULT_FED_CLIENT_ID,
// VAULT_FED_ISSUER, VAULT_FED_ISSUER_KEY, VAULT_FED_TOKEN_FILE, ATREST_BIN
// and NODE_EXTRA_CA_CERTS (the test CA).
// The only concessions to the loopback server are the ones the project
// allows: trusting its CA, disableChallengeResourceVerification (127.0.0.1
// is not a subdomain of vault.azure.net) and, for MSAL, an authority host
// of the server with instance discovery off.
//
// The tests run in order (node:test runs a file's tests one after the
// other): several of them switch server settings through /admin/config and
// put them back in an `after` hook.

import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, writeFileSync, existsSync, mkdtempSync, rmSync } from "node:fs";
import { execFile } from "node:child_process";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import https from "node:https";
import crypto from "node:crypto";

import {
	ClientSecretCredential,
	ClientCertificateCredential,
	WorkloadIdentityCredential,
	ClientAssertionCredential,
	ManagedIdentityCredential,
	DefaultAzureCredential,
} from "@azure/identity";
import { KeyClient, CryptographyClient } from "@azure/keyvault-keys";
import { isRestError } from "@azure/core-rest-pipeline";

function need(name) {
	const v = process.env[name];
	if (!v)
		throw new Error(`${name} is not set: run this file through scripts/sdk-test.sh`);
	return v;
}

const VAULT = need("VAULT_URL").replace(/\/$/, "");
const CA_FILE = need("VAULT_CA");
const CA = readFileSync(CA_FILE);
const TENANT = need("VAULT_TENANT");
const CLIENT_ID = need("VAULT_CLIENT_ID");
const SECRET = readFileSync(need("VAULT_CLIENT_SECRET_FILE"), "utf8").trim();
/* The admin API wants its own credential (docs/VAULT.md, Admin endpoint). */
const ADMIN = {
	"x-atrest-admin": readFileSync(need("VAULT_ADMIN_TOKEN_FILE"), "utf8").trim(),
};
const MI_CLIENT_ID = need("VAULT_MI_CLIENT_ID");
/* A certificate client (--client-cert) and a federated one (--federated):
 * the PEM files hold certificate and key; OTHER_CERT_PEM is registered
 * nowhere.  FED_ISSUER_KEY signs tokens as the federated issuer. */
const CERT_CLIENT_ID = need("VAULT_CERT_CLIENT_ID");
const CERT_PEM = need("VAULT_CERT_PEM");
const OTHER_CERT_PEM = need("VAULT_OTHER_CERT_PEM");
const FED_CLIENT_ID = need("VAULT_FED_CLIENT_ID");
const FED_ISSUER = need("VAULT_FED_ISSUER");
const FED_ISSUER_KEY = need("VAULT_FED_ISSUER_KEY");
const FED_TOKEN_FILE = need("VAULT_FED_TOKEN_FILE");
const ATREST = resolve(process.env.ATREST_BIN || "build/atrest");
const SDK = { disableChallengeResourceVerification: true };
const VERSION_RE = /^[0-9a-f]{32}$/;

/* ---------- helpers ---------- */

/* Plain HTTPS to the server, trusting only its CA. */
function raw(method, path, { body, headers = {}, token = "static-test-token" } = {}) {
	return new Promise((ok, fail) => {
		const data = body === undefined ? undefined :
		    Buffer.from(typeof body === "string" ? body : JSON.stringify(body));
		const h = { ...headers };
		if (token)
			h.Authorization = `Bearer ${token}`;
		if (data) {
			h["Content-Type"] = "application/json";
			h["Content-Length"] = data.length;
		}
		const req = https.request(new URL(VAULT + path),
		    { method, ca: CA, agent: false, headers: h }, (res) => {
			const chunks = [];
			res.on("data", (c) => chunks.push(c));
			res.on("end", () => {
				const text = Buffer.concat(chunks).toString("utf8");
				let json;
				try {
					json = text ? JSON.parse(text) : undefined;
				} catch {
					json = undefined;
				}
				ok({ status: res.statusCode, headers: res.headers, text, json });
			});
		});
		req.on("error", fail);
		if (data)
			req.write(data);
		req.end();
	});
}

async function stats() {
	const r = await raw("GET", "/admin/stats", { token: null, headers: ADMIN });
	assert.equal(r.status, 200);
	return r.json;
}

const op = (s, name) => (s.ops && s.ops[name]) || 0;

async function setConfig(cfg) {
	const r = await raw("POST", "/admin/config", { token: null, headers: ADMIN, body: cfg });
	assert.equal(r.status, 200, `admin/config ${JSON.stringify(cfg)}: ${r.text}`);
}

const DEFAULT_CONFIG = {
	token_mode: "any",
	disabled_get_forbidden: false,
	disabled_blocks: ["encrypt", "decrypt", "wrapKey", "unwrapKey"],
	api_versions: "strict",
};

/* A pipeline policy that records every request the SDK puts on the
 * wire (perRetry: after the Key Vault challenge policy). */
function recorder() {
	const log = [];
	return {
		log,
		policies: [{
			position: "perRetry",
			policy: {
				name: "atrestRecorder",
				async sendRequest(req, next) {
					const res = await next(req);
					log.push({ method: req.method, url: req.url, status: res.status,
					    auth: req.headers.has("authorization") });
					return res;
				},
			},
		}],
	};
}

/* A fixed-token credential, as the reference's §3.4 example. */
function staticCredential(token = "static-test-token") {
	return {
		async getToken() {
			return { token, expiresOnTimestamp: Date.now() + 3600e3 };
		},
	};
}

function secretCredential(secret = SECRET) {
	return new ClientSecretCredential(TENANT, CLIENT_ID, secret,
	    { authorityHost: VAULT, disableInstanceDiscovery: true });
}

function jwtClaims(token) {
	const parts = token.split(".");
	assert.equal(parts.length, 3, "a JWT has three parts");
	return JSON.parse(Buffer.from(parts[1], "base64url").toString("utf8"));
}

async function expectRestError(promise, status, code) {
	let err;
	try {
		await promise;
	} catch (e) {
		err = e;
	}
	assert.ok(err, `expected HTTP ${status} ${code}, but the call succeeded`);
	assert.ok(isRestError(err), `expected a RestError, got ${err && err.name}: ${err && err.message}`);
	assert.equal(err.statusCode, status, err.message);
	if (code)
		assert.equal(err.code, code, err.message);
	return err;
}

const innerCode = (err) => err.details?.error?.innerError?.code;

function run(args, env) {
	return new Promise((ok) => {
		execFile(ATREST, args, { env, encoding: "buffer", maxBuffer: 1 << 26 },
		    (error, stdout, stderr) => {
			ok({ code: error ? (typeof error.code === "number" ? error.code : -1) : 0,
			    stdout, stderr: stderr.toString("utf8") });
		});
	});
}

/* The environment for atrest: nothing inherited but PATH. */
function atrestEnv(extra) {
	return { PATH: process.env.PATH || "/usr/bin:/bin", ATREST_CA_FILE: CA_FILE,
	    ATREST_KV_BACKOFF_MS: "1", ...extra };
}

const clientCredEnv = () => atrestEnv({ AZURE_TENANT_ID: TENANT,
    AZURE_CLIENT_ID: CLIENT_ID, AZURE_CLIENT_SECRET: SECRET,
    AZURE_AUTHORITY_HOST: VAULT });

/* docs/FORMAT.md: core(85) | stanza_count u16 | stanzas | header_mac(32). */
function parseEnvelope(buf) {
	assert.equal(buf.subarray(0, 6).toString("latin1"), "ATREST");
	assert.equal(buf[6], 1, "format version 1");
	const env = {
		corePre: buf.subarray(0, 53),
		objectId: buf.subarray(10, 42),
		commitment: buf.subarray(53, 85),
		stanzas: [],
	};
	const count = buf.readUInt16BE(85);
	let off = 87;
	for (let i = 0; i < count; i++) {
		const s = { provider: buf[off], alg: buf[off + 1], kind: buf[off + 2] };
		const idLen = buf.readUInt16BE(off + 3);
		s.keyId = buf.subarray(off + 5, off + 5 + idLen).toString("latin1");
		off += 5 + idLen;
		const wl = buf.readUInt16BE(off);
		s.wrappedOff = off + 2;
		s.wrapped = Buffer.from(buf.subarray(off + 2, off + 2 + wl));
		off += 2 + wl;
		if (s.kind === 1 || s.kind === 2)
			off += 16;
		if (s.kind === 2)
			off += 2 + 72;
		env.stanzas.push(s);
	}
	env.macOff = off;
	env.mac = buf.subarray(off, off + 32);
	return env;
}

/* FORMAT.md §4: the 64-byte wrap input's second half. */
function contextDigest(env, s) {
	const id = Buffer.from(s.keyId, "latin1");
	const len = Buffer.alloc(2);
	len.writeUInt16BE(id.length);
	return crypto.createHash("sha256").update(Buffer.concat([
		Buffer.from("atrest/v1 wrap\0", "latin1"),
		Buffer.from([1, s.kind, env.objectId.length]), env.objectId,
		Buffer.from([s.provider, s.alg]), len, id,
	])).digest();
}

/* FORMAT.md §3: HKDF-SHA-256 -> commitment | payload key | header MAC key. */
function deriveKeys(env, dek) {
	const okm = Buffer.from(crypto.hkdfSync("sha256", dek, env.objectId,
	    Buffer.concat([Buffer.from("atrest/v1 keys\0", "latin1"), env.corePre]), 96));
	return { commitment: okm.subarray(0, 32), macKey: okm.subarray(64, 96) };
}

const headerMac = (buf, env, macKey) =>
	crypto.createHmac("sha256", macKey).update(buf.subarray(0, env.macOff)).digest();

/* ---------- the tests ---------- */

before(async () => {
	await setConfig(DEFAULT_CONFIG);
});

describe("identity: tokens from the loopback token endpoint", () => {
	after(() => setConfig(DEFAULT_CONFIG));

	it("ClientSecretCredential gets a vault token (authorityHost = server, no instance discovery)", async () => {
		const before_ = await stats();
		const t = await secretCredential().getToken("https://vault.azure.net/.default");
		const c = jwtClaims(t.token);
		assert.equal(c.aud, "https://vault.azure.net");
		assert.equal(c.tid, TENANT);
		assert.equal(c.appid, CLIENT_ID);
		assert.ok(t.expiresOnTimestamp > Date.now() + 30 * 60e3, "token lives about an hour");
		assert.equal((await stats()).tokens_issued, before_.tokens_issued + 1);
	});

	it("ClientSecretCredential with a wrong secret fails with AADSTS7000215", async () => {
		let err;
		try {
			await secretCredential("not-the-secret").getToken("https://vault.azure.net/.default");
		} catch (e) {
			err = e;
		}
		assert.ok(err, "a wrong secret must not give a token");
		/* @azure/identity turns MSAL's ServerError into
		 * AuthenticationRequiredError (msal/utils.js handleMsalError). */
		assert.equal(err.name, "AuthenticationRequiredError");
		assert.match(err.message, /invalid_client/);
		assert.match(err.message, /AADSTS7000215: Invalid client secret provided/);
		assert.ok(!err.message.includes(SECRET), "the secret is not echoed");
	});

	it("ManagedIdentityCredential via AZURE_POD_IDENTITY_AUTHORITY_HOST (IMDS), and DefaultAzureCredential", async () => {
		const saved = { ...process.env };
		try {
			for (const k of ["AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET", "AZURE_TENANT_ID",
			    "AZURE_AUTHORITY_HOST", "AZURE_FEDERATED_TOKEN_FILE", "IDENTITY_ENDPOINT",
			    "MSI_ENDPOINT"])
				delete process.env[k];
			process.env.AZURE_POD_IDENTITY_AUTHORITY_HOST = VAULT;
			const mi = await new ManagedIdentityCredential().getToken("https://vault.azure.net/.default");
			assert.equal(jwtClaims(mi.token).aud, "https://vault.azure.net");
			assert.equal(jwtClaims(mi.token).appid, MI_CLIENT_ID);
			/* A user-assigned identity the server was not started with. */
			const other = new ManagedIdentityCredential("00000000-0000-0000-0000-000000000000");
			await assert.rejects(other.getToken("https://vault.azure.net/.default"));
			const dc = new DefaultAzureCredential();
			const t = await dc.getToken("https://vault.azure.net/.default");
			assert.equal(jwtClaims(t.token).aud, "https://vault.azure.net");
			/* The identity's token opens the vault in validate mode. */
			await setConfig({ token_mode: "validate" });
			const kc = new KeyClient(VAULT, dc, SDK);
			const k = await kc.createRsaKey("sdk-mi", { keySize: 2048 });
			assert.match(k.properties.version, VERSION_RE);
		} finally {
			for (const k of Object.keys(process.env))
				if (!(k in saved))
					delete process.env[k];
			Object.assign(process.env, saved);
			await setConfig(DEFAULT_CONFIG);
		}
	});

	it("token-mode validate: the SDK's real tokens pass, a static fake token gets 401 Unauthorized", async () => {
		await setConfig({ token_mode: "validate" });
		const good = new KeyClient(VAULT, secretCredential(), SDK);
		const k = await good.createRsaKey("sdk-validate", { keySize: 2048 });
		assert.equal(k.name, "sdk-validate");
		const bad = new KeyClient(VAULT, staticCredential("not.a-token"), SDK);
		const err = await expectRestError(bad.getKey("sdk-validate"), 401, "Unauthorized");
		assert.match(err.message, /AKV10/);
	});

	it("token-mode any: a static TokenCredential is accepted", async () => {
		await setConfig({ token_mode: "any" });
		const kc = new KeyClient(VAULT, staticCredential(), SDK);
		const k = await kc.getKey("sdk-validate");
		assert.equal(k.name, "sdk-validate");
	});
});

describe("identity: certificate and federated clients (docs/VAULT.md)", () => {
	const SCOPE = "https://vault.azure.net/.default";
	const dek = crypto.randomBytes(32);

	after(() => setConfig(DEFAULT_CONFIG));

	/* In validate mode the credential's own token wraps and unwraps a DEK
	 * with a key it made: KeyClient and CryptographyClient both carry it. */
	async function wrapRoundTrip(cred, name) {
		await setConfig({ token_mode: "validate" });
		try {
			const kc = new KeyClient(VAULT, cred, SDK);
			const k = await kc.createRsaKey(name, { keySize: 2048 });
			assert.match(k.properties.version, VERSION_RE);
			const cc = new CryptographyClient(k.id, cred, SDK);
			const w = await cc.wrapKey("RSA-OAEP-256", dek);
			assert.equal(w.result.length, 256);
			assert.deepEqual(Buffer.from((await cc.unwrapKey("RSA-OAEP-256", w.result)).result), dek);
			/* And a fake token still is not enough for the same key. */
			const bad = new CryptographyClient(k.id, staticCredential("not.a-token"), SDK);
			await expectRestError(bad.unwrapKey("RSA-OAEP-256", w.result), 401, "Unauthorized");
		} finally {
			await setConfig(DEFAULT_CONFIG);
		}
	}

	/* The token request msal-node puts on the wire, and its assertion. */
	function tokenRecorder() {
		const seen = [];
		return {
			seen,
			additionalPolicies: [{
				position: "perCall",
				policy: {
					name: "atrestTokenRecorder",
					async sendRequest(req, next) {
						const res = await next(req);
						if (/\/oauth2\//.test(req.url) && typeof req.body === "string")
							seen.push({ url: req.url, status: res.status,
							    form: Object.fromEntries(new URLSearchParams(req.body)) });
						return res;
					},
				},
			}],
		};
	}

	const jwtHeader = (jwt) => JSON.parse(Buffer.from(jwt.split(".")[0], "base64url").toString("utf8"));

	function certCredential(path, extra = {}) {
		return new ClientCertificateCredential(TENANT, CERT_CLIENT_ID, { certificatePath: path },
		    { authorityHost: VAULT, disableInstanceDiscovery: true, ...extra });
	}

	async function expectAadsts(promise, code) {
		let err;
		try {
			await promise;
		} catch (e) {
			err = e;
		}
		assert.ok(err, `expected a refusal with AADSTS${code}, but a token came back`);
		assert.match(err.message, new RegExp(`AADSTS${code}\\b`), `${err.name}: ${err.message}`);
		return err;
	}

	it("ClientCertificateCredential (PEM path) gets a vault token and wraps/unwraps in token-mode validate", async () => {
		const rec = tokenRecorder();
		const cred = certCredential(CERT_PEM, { additionalPolicies: rec.additionalPolicies });
		const s0 = await stats();
		const t = await cred.getToken(SCOPE);
		const c = jwtClaims(t.token);
		assert.equal(c.aud, "https://vault.azure.net");
		assert.equal(c.tid, TENANT);
		assert.equal(c.appid, CERT_CLIENT_ID);
		assert.equal((await stats()).tokens_issued, s0.tokens_issued + 1);
		/* What msal-node sent: an RFC 7523 assertion, no secret. */
		const sent = rec.seen.find((r) => r.status === 200);
		assert.ok(sent, `a token request was recorded: ${JSON.stringify(rec.seen.map((r) => r.url))}`);
		assert.equal(sent.form.client_assertion_type, "urn:ietf:params:oauth:client-assertion-type:jwt-bearer");
		assert.equal(sent.form.client_secret, undefined);
		/* msal-node 5 signs PS256 and names the certificate by x5t#S256
		 * (seen on the wire; the server takes RS256 or PS256, x5t#S256
		 * or x5t); aud is the v2 token URL without its query. */
		const h = jwtHeader(sent.form.client_assertion);
		assert.ok(h["x5t#S256"] || h.x5t, `the assertion names its certificate: ${JSON.stringify(h)}`);
		assert.ok(["PS256", "RS256"].includes(h.alg), h.alg);
		const a = jwtClaims(sent.form.client_assertion);
		const u = new URL(sent.url);
		assert.equal(u.pathname, `/${TENANT}/oauth2/v2.0/token`);
		assert.equal(a.aud, `${u.origin}${u.pathname}`);
		assert.equal(a.iss, CERT_CLIENT_ID);
		assert.equal(a.sub, CERT_CLIENT_ID);
		assert.ok(a.jti, "a jti");
		await wrapRoundTrip(cred, "sdk-cert");
	});

	it("ClientCertificateCredential with sendCertificateChain: true (x5c in the assertion) works too", async () => {
		const rec = tokenRecorder();
		const cred = certCredential(CERT_PEM,
		    { sendCertificateChain: true, additionalPolicies: rec.additionalPolicies });
		const t = await cred.getToken(SCOPE);
		assert.equal(jwtClaims(t.token).appid, CERT_CLIENT_ID);
		const sent = rec.seen.find((r) => r.status === 200);
		assert.ok(sent);
		const h = jwtHeader(sent.form.client_assertion);
		assert.ok(Array.isArray(h.x5c) && h.x5c.length === 1, `x5c: ${JSON.stringify(h)}`);
		await wrapRoundTrip(cred, "sdk-cert-chain");
	});

	it("ClientCertificateCredential asks again for another scope: msal-node sends the same assertion (same jti) and gets a token", async () => {
		const rec = tokenRecorder();
		const cred = certCredential(CERT_PEM, { additionalPolicies: rec.additionalPolicies });
		const t1 = await cred.getToken(SCOPE);
		const t2 = await cred.getToken("https://managedhsm.azure.net/.default");
		assert.equal(jwtClaims(t1.token).aud, "https://vault.azure.net");
		assert.equal(jwtClaims(t2.token).aud, "https://managedhsm.azure.net");
		const sent = rec.seen.map((r) => r.form.client_assertion);
		assert.equal(sent.length, 2, "two token requests on the wire");
		assert.equal(jwtClaims(sent[0]).jti, jwtClaims(sent[1]).jti,
		    "msal-node reuses its assertion for its 10 minutes (ClientAssertion.getJwt)");
	});

	it("ClientCertificateCredential with a certificate the client was not registered with: AADSTS700027", async () => {
		await expectAadsts(certCredential(OTHER_CERT_PEM).getToken(SCOPE), "700027");
		await expectAadsts(certCredential(OTHER_CERT_PEM, { sendCertificateChain: true }).getToken(SCOPE), "700027");
	});

	it("WorkloadIdentityCredential (tokenFilePath) gets a vault token and wraps/unwraps in token-mode validate", async () => {
		const cred = new WorkloadIdentityCredential({ tenantId: TENANT, clientId: FED_CLIENT_ID,
		    tokenFilePath: FED_TOKEN_FILE, authorityHost: VAULT, disableInstanceDiscovery: true });
		const t = await cred.getToken(SCOPE);
		assert.equal(jwtClaims(t.token).aud, "https://vault.azure.net");
		assert.equal(jwtClaims(t.token).appid, FED_CLIENT_ID);
		await wrapRoundTrip(cred, "sdk-workload");
	});

	it("WorkloadIdentityCredential from AZURE_FEDERATED_TOKEN_FILE, AZURE_CLIENT_ID, AZURE_TENANT_ID", async () => {
		const saved = { ...process.env };
		try {
			Object.assign(process.env, { AZURE_TENANT_ID: TENANT, AZURE_CLIENT_ID: FED_CLIENT_ID,
			    AZURE_FEDERATED_TOKEN_FILE: FED_TOKEN_FILE });
			const cred = new WorkloadIdentityCredential({ authorityHost: VAULT, disableInstanceDiscovery: true });
			const t = await cred.getToken(SCOPE);
			assert.equal(jwtClaims(t.token).appid, FED_CLIENT_ID);
			await wrapRoundTrip(cred, "sdk-workload-env");
		} finally {
			for (const k of Object.keys(process.env))
				if (!(k in saved))
					delete process.env[k];
			Object.assign(process.env, saved);
		}
	});

	it("ClientAssertionCredential with a callback returning the federated token", async () => {
		let calls = 0;
		const cred = new ClientAssertionCredential(TENANT, FED_CLIENT_ID, async () => {
			calls++;
			return readFileSync(FED_TOKEN_FILE, "utf8").trim();
		}, { authorityHost: VAULT, disableInstanceDiscovery: true });
		const t = await cred.getToken(SCOPE);
		assert.equal(jwtClaims(t.token).appid, FED_CLIENT_ID);
		assert.ok(calls >= 1, "the callback was asked");
		await wrapRoundTrip(cred, "sdk-assertion");
	});

	it("a federated token with another subject is refused: AADSTS70021", async () => {
		const r = await run(["vault", "federated-token", "--issuer-key", FED_ISSUER_KEY,
		    "--issuer", FED_ISSUER, "--subject", "system:serviceaccount:other:intruder"], atrestEnv());
		assert.equal(r.code, 0, r.stderr);
		const other = r.stdout.toString("utf8").trim();
		assert.equal(jwtClaims(other).sub, "system:serviceaccount:other:intruder");
		const cred = new ClientAssertionCredential(TENANT, FED_CLIENT_ID, async () => other,
		    { authorityHost: VAULT, disableInstanceDiscovery: true });
		const err = await expectAadsts(cred.getToken(SCOPE), "70021");
		assert.ok(!err.message.includes(other), "the token is not echoed");
	});
});

describe("KeyClient: key life cycle", () => {
	const cred = secretCredential();
	const rec = recorder();
	const kc = new KeyClient(VAULT, cred, { ...SDK, additionalPolicies: rec.policies });
	const name = "sdk-cmk";
	let first;

	it("createRsaKey 3072: KeyBundle with a versioned kid, the public JWK and the default key_ops", async () => {
		first = await kc.createRsaKey(name, { keySize: 3072, tags: { purpose: "sdk test" } });
		assert.equal(first.name, name);
		assert.equal(first.keyType, "RSA");
		assert.equal(first.id, `${VAULT}/keys/${name}/${first.properties.version}`);
		assert.match(first.properties.version, VERSION_RE);
		assert.equal(first.key.n.length, 384, "3072-bit modulus");
		assert.deepEqual(Buffer.from(first.key.e), Buffer.from([1, 0, 1]));
		assert.equal(first.key.d, undefined, "no private part");
		assert.deepEqual([...first.keyOperations].sort(),
		    ["decrypt", "encrypt", "sign", "unwrapKey", "verify", "wrapKey"]);
		assert.equal(first.properties.enabled, true);
		assert.equal(first.properties.recoveryLevel, "Recoverable+Purgeable");
		assert.equal(first.properties.recoverableDays, 90);
		assert.deepEqual(first.properties.tags, { purpose: "sdk test" });
		assert.ok(Math.abs(first.properties.createdOn.getTime() - Date.now()) < 120e3);
	});

	it("getKey: latest (trailing-slash GET) and versioned agree; a missing key is 404 KeyNotFound", async () => {
		rec.log.length = 0;
		const latest = await kc.getKey(name);
		const versioned = await kc.getKey(name, { version: first.properties.version });
		assert.equal(latest.id, first.id);
		assert.equal(versioned.id, first.id);
		assert.deepEqual(Buffer.from(latest.key.n), Buffer.from(first.key.n));
		const gets = rec.log.filter((r) => r.method === "GET" && r.status === 200);
		assert.ok(gets.some((r) => new URL(r.url).pathname === `/keys/${name}/`),
		    `the SDK asks for the latest version with a trailing slash: ${gets.map((r) => r.url)}`);
		const err = await expectRestError(kc.getKey("sdk-no-such-key"), 404, "KeyNotFound");
		assert.match(err.message, /sdk-no-such-key was not found/);
		await expectRestError(kc.getKey(name, { version: "0".repeat(32) }), 404, "KeyNotFound");
	});

	it("updateKeyProperties: disable, enable, expiresOn/notBefore, tags", async () => {
		const v = first.properties.version;
		let k = await kc.updateKeyProperties(name, v, { enabled: false });
		assert.equal(k.properties.enabled, false);
		assert.equal((await kc.getKey(name)).properties.enabled, false);
		k = await kc.updateKeyProperties(name, v, { enabled: true });
		assert.equal(k.properties.enabled, true);
		const exp = new Date(Math.floor(Date.now() / 1000 + 90 * 86400) * 1000);
		const nbf = new Date(Math.floor(Date.now() / 1000 - 3600) * 1000);
		k = await kc.updateKeyProperties(name, v, { expiresOn: exp, notBefore: nbf,
		    tags: { purpose: "sdk test", stage: "2" } });
		assert.equal(k.properties.expiresOn.getTime(), exp.getTime());
		assert.equal(k.properties.notBefore.getTime(), nbf.getTime());
		assert.deepEqual(k.properties.tags, { purpose: "sdk test", stage: "2" });
		assert.ok(k.properties.updatedOn >= k.properties.createdOn);
		/* Versionless PATCH (the SDK's updateKeyProperties(name, options)). */
		k = await kc.updateKeyProperties(name, { tags: { purpose: "sdk test" } });
		assert.equal(k.id, first.id);
		assert.deepEqual(k.properties.tags, { purpose: "sdk test" });
	});

	it("rotateKey makes a new latest version; the old one stays readable; key_ops and tags carry over", async () => {
		const r = await kc.rotateKey(name);
		assert.notEqual(r.properties.version, first.properties.version);
		assert.match(r.properties.version, VERSION_RE);
		assert.equal(r.key.n.length, 384);
		assert.notDeepEqual(Buffer.from(r.key.n), Buffer.from(first.key.n), "new key material");
		assert.deepEqual([...r.keyOperations].sort(), [...first.keyOperations].sort());
		assert.deepEqual(r.properties.tags, { purpose: "sdk test" });
		assert.equal((await kc.getKey(name)).id, r.id);
		assert.equal((await kc.getKey(name, { version: first.properties.version })).id, first.id);
	});

	it("rotation policy: set, read back, and its expiresIn sets the next version's expiry", async () => {
		const p = await kc.updateKeyRotationPolicy(name, {
			expiresIn: "P2Y",
			lifetimeActions: [{ action: "Rotate", timeAfterCreate: "P90D" },
			    { action: "Notify", timeBeforeExpiry: "P30D" }],
		});
		assert.equal(p.expiresIn, "P2Y");
		const got = await kc.getKeyRotationPolicy(name);
		assert.equal(got.expiresIn, "P2Y");
		assert.equal(got.lifetimeActions.length, 2);
		assert.ok(got.lifetimeActions.some((a) => a.action.toLowerCase() === "rotate" &&
		    a.timeAfterCreate === "P90D"));
		const r = await kc.rotateKey(name);
		const want = Date.now() + 2 * 365 * 86400e3;
		assert.ok(r.properties.expiresOn, "rotate sets exp from expiryTime");
		assert.ok(Math.abs(r.properties.expiresOn.getTime() - want) < 300e3,
		    `expiresOn ${r.properties.expiresOn.toISOString()}`);
	});

	it("listPropertiesOfKeyVersions pages with maxPageSize (maxresults) by following nextLink", async () => {
		await kc.rotateKey(name);
		const all = [];
		for await (const p of kc.listPropertiesOfKeyVersions(name))
			all.push(p);
		assert.equal(all.length, 4, "create + 3 rotations");
		assert.ok(all.every((p) => p.name === name && VERSION_RE.test(p.version)));
		assert.equal(new Set(all.map((p) => p.version)).size, 4);
		assert.ok(all.some((p) => p.version === first.properties.version));
		const pages = [];
		for await (const page of kc.listPropertiesOfKeyVersions(name).byPage({ maxPageSize: 1 }))
			pages.push(page);
		assert.equal(pages.length, 4, "one version per page");
		assert.ok(pages.every((pg) => pg.length === 1));
		assert.deepEqual(pages.map((pg) => pg[0].version).sort(), all.map((p) => p.version).sort());
		/* The pages of 3: the second request is the server's absolute
		 * nextLink, carrying $skiptoken and maxresults.  (This SDK
		 * version drops page.continuationToken when it maps pages, so
		 * the link is checked on the wire.) */
		rec.log.length = 0;
		const sizes = [];
		for await (const pg of kc.listPropertiesOfKeyVersions(name).byPage({ maxPageSize: 3 }))
			sizes.push(pg.length);
		assert.deepEqual(sizes, [3, 1]);
		const lists = rec.log.filter((r) => r.status === 200 && r.url.includes("/versions"))
		    .map((r) => new URL(r.url));
		assert.equal(lists.length, 2);
		assert.equal(lists[0].searchParams.get("maxresults"), "3");
		assert.equal(lists[1].origin, VAULT);
		assert.ok(lists[1].searchParams.get("$skiptoken"), lists[1].href);
		assert.equal(lists[1].searchParams.get("maxresults"), "3");
		assert.equal(lists[1].searchParams.get("api-version"), "2025-07-01");
		const names = [];
		for await (const p of kc.listPropertiesOfKeys())
			names.push(p.name);
		assert.ok(names.includes(name), `listPropertiesOfKeys: ${names}`);
	});

	it("beginDeleteKey + poller, getDeletedKey, 409 on reuse, beginRecoverDeletedKey", async () => {
		const poller = await kc.beginDeleteKey(name, { intervalInMs: 20 });
		const del = await poller.pollUntilDone();
		assert.equal(del.name, name);
		assert.equal(del.properties.recoveryId, `${VAULT}/deletedkeys/${name}`);
		assert.ok(del.properties.deletedOn instanceof Date);
		const days = (del.properties.scheduledPurgeDate - del.properties.deletedOn) / 86400e3;
		assert.equal(Math.round(days), 90);
		await expectRestError(kc.getKey(name), 404, "KeyNotFound");
		const dk = await kc.getDeletedKey(name);
		assert.equal(dk.properties.recoveryId, del.properties.recoveryId);
		const deleted = [];
		for await (const d of kc.listDeletedKeys())
			deleted.push(d.name);
		assert.ok(deleted.includes(name));
		const err = await expectRestError(kc.createRsaKey(name, { keySize: 2048 }), 409, "Conflict");
		assert.equal(innerCode(err), "ObjectIsDeletedButRecoverable");
		const rp = await kc.beginRecoverDeletedKey(name, { intervalInMs: 20 });
		const back = await rp.pollUntilDone();
		assert.equal(back.name, name);
		const latest = await kc.getKey(name);
		assert.equal(latest.id, back.id);
		assert.equal((await kc.getKey(name, { version: first.properties.version })).id, first.id,
		    "recovery brings every version back");
		await expectRestError(kc.getDeletedKey(name), 404, "KeyNotFound");
	});

	it("purgeDeletedKey removes a soft-deleted key for good; the name can be reused", async () => {
		const pname = "sdk-purge";
		await kc.createRsaKey(pname, { keySize: 2048 });
		await (await kc.beginDeleteKey(pname, { intervalInMs: 20 })).pollUntilDone();
		await kc.purgeDeletedKey(pname);
		await expectRestError(kc.getDeletedKey(pname), 404, "KeyNotFound");
		await expectRestError(kc.getKey(pname), 404, "KeyNotFound");
		await expectRestError(kc.purgeDeletedKey(pname), 404, "KeyNotFound");
		const again = await kc.createRsaKey(pname, { keySize: 2048 });
		const versions = [];
		for await (const p of kc.listPropertiesOfKeyVersions(pname))
			versions.push(p.version);
		assert.deepEqual(versions, [again.properties.version], "a purged key leaves no version behind");
	});
});

describe("CryptographyClient", () => {
	const cred = secretCredential();
	const kc = new KeyClient(VAULT, cred, SDK);
	const dek = crypto.randomBytes(32);
	let key;

	before(async () => {
		key = await kc.createRsaKey("sdk-crypto", { keySize: 3072 });
	});

	after(() => setConfig(DEFAULT_CONFIG));

	it("built from the key id: RSA-OAEP-256 wrapKey/unwrapKey both run in the service", async () => {
		const rec = recorder();
		const cc = new CryptographyClient(key.id, cred, { ...SDK, additionalPolicies: rec.policies });
		const s0 = await stats();
		const w = await cc.wrapKey("RSA-OAEP-256", dek);
		assert.equal(w.result.length, 384);
		assert.equal(w.keyID, key.id);
		const u = await cc.unwrapKey("RSA-OAEP-256", w.result);
		assert.deepEqual(Buffer.from(u.result), dek);
		const s1 = await stats();
		assert.equal(op(s1, "wrapkey") - op(s0, "wrapkey"), 1, "the wrap went to the service");
		assert.equal(op(s1, "unwrapkey") - op(s0, "unwrapkey"), 1);
		const paths = rec.log.filter((r) => r.status === 200).map((r) => new URL(r.url).pathname);
		assert.ok(paths.includes(`/keys/sdk-crypto/${key.properties.version}/wrapkey`), paths.join(" "));
	});

	it("RSA-OAEP: the SDK wraps locally with the public key, the service unwraps it", async () => {
		const cc = new CryptographyClient(key.id, cred, SDK);
		const s0 = await stats();
		const w = await cc.wrapKey("RSA-OAEP", dek);
		const s1 = await stats();
		assert.equal(op(s1, "wrapkey"), op(s0, "wrapkey"), "RSA-OAEP wrap is local in this SDK");
		const u = await cc.unwrapKey("RSA-OAEP", w.result);
		assert.deepEqual(Buffer.from(u.result), dek);
		assert.equal(op(await stats(), "unwrapkey") - op(s1, "unwrapkey"), 1);
		/* The wrong padding must not unwrap it. */
		const err = await expectRestError(cc.unwrapKey("RSA-OAEP-256", w.result), 400, "BadParameter");
		assert.match(err.message, /OAEP/);
	});

	it("built from a KeyVaultKey: encrypt/decrypt with RSA-OAEP-256, RSA-OAEP and RSA1_5", async () => {
		const cc = new CryptographyClient(key, cred, SDK);
		for (const alg of ["RSA-OAEP-256", "RSA-OAEP", "RSA1_5"]) {
			const pt = crypto.randomBytes(100);
			const e = await cc.encrypt({ algorithm: alg, plaintext: pt });
			assert.equal(e.result.length, 384, alg);
			const d = await cc.decrypt({ algorithm: alg, ciphertext: e.result });
			assert.deepEqual(Buffer.from(d.result), pt, alg);
		}
		/* 3072-bit OAEP-256 takes at most 384 - 66 = 318 bytes. */
		await expectRestError(cc.encrypt({ algorithm: "RSA-OAEP-256",
		    plaintext: crypto.randomBytes(319) }), 400, "BadParameter");
	});

	it("remote-only fallback (GET forbidden): RSA-OAEP wrap and RSA1_5 encrypt then run in the service", async () => {
		const k = await kc.createRsaKey("sdk-remote-only", { keySize: 2048 });
		await kc.updateKeyProperties(k.name, k.properties.version, { enabled: false });
		await setConfig({ disabled_get_forbidden: true, disabled_blocks: [] });
		try {
			const cc = new CryptographyClient(k.id, cred, SDK);
			const s0 = await stats();
			const w = await cc.wrapKey("RSA-OAEP", dek);
			const e = await cc.encrypt({ algorithm: "RSA1_5", plaintext: dek });
			const s1 = await stats();
			assert.equal(op(s1, "wrapkey") - op(s0, "wrapkey"), 1);
			assert.equal(op(s1, "encrypt") - op(s0, "encrypt"), 1);
			assert.deepEqual(Buffer.from((await cc.unwrapKey("RSA-OAEP", w.result)).result), dek);
			assert.deepEqual(Buffer.from((await cc.decrypt({ algorithm: "RSA1_5",
			    ciphertext: e.result })).result), dek);
		} finally {
			await setConfig(DEFAULT_CONFIG);
		}
	});

	it("a disabled key: unwrap and wrap fail with RestError 403 Forbidden (KeyDisabled); enabling restores it", async () => {
		const cc = new CryptographyClient(key.id, cred, SDK);
		const w = await cc.wrapKey("RSA-OAEP-256", dek);
		await kc.updateKeyProperties(key.name, key.properties.version, { enabled: false });
		try {
			let err = await expectRestError(cc.unwrapKey("RSA-OAEP-256", w.result), 403, "Forbidden");
			assert.equal(innerCode(err), "KeyDisabled");
			assert.match(err.message, /not allowed on a disabled key/);
			err = await expectRestError(cc.wrapKey("RSA-OAEP-256", dek), 403, "Forbidden");
			assert.equal(innerCode(err), "KeyDisabled");
			/* A fresh client (it GETs the disabled key first) fails the same way. */
			const fresh = new CryptographyClient(key.id, cred, SDK);
			await expectRestError(fresh.unwrapKey("RSA-OAEP-256", w.result), 403, "Forbidden");
		} finally {
			await kc.updateKeyProperties(key.name, key.properties.version, { enabled: true });
		}
		assert.deepEqual(Buffer.from((await cc.unwrapKey("RSA-OAEP-256", w.result)).result), dek);
	});

	it("a missing key or version gives RestError 404 KeyNotFound", async () => {
		const w = await new CryptographyClient(key.id, cred, SDK).wrapKey("RSA-OAEP-256", dek);
		const missing = new CryptographyClient(`${VAULT}/keys/sdk-missing/${"a".repeat(32)}`, cred, SDK);
		let err = await expectRestError(missing.unwrapKey("RSA-OAEP-256", w.result), 404, "KeyNotFound");
		assert.match(err.message, /sdk-missing/);
		const noVersion = new CryptographyClient(`${VAULT}/keys/sdk-crypto/${"b".repeat(32)}`, cred, SDK);
		err = await expectRestError(noVersion.unwrapKey("RSA-OAEP-256", w.result), 404, "KeyNotFound");
	});

	it("corrupt wrapped bytes: 400 BadParameter, never the plaintext", async () => {
		const cc = new CryptographyClient(key.id, cred, SDK);
		const w = Buffer.from((await cc.wrapKey("RSA-OAEP-256", dek)).result);
		w[100] ^= 1;
		await expectRestError(cc.unwrapKey("RSA-OAEP-256", w), 400, "BadParameter");
	});

	it("key_ops: restricted ops are echoed and enforced; empty key_ops means the defaults (james-gould #292/#426)", async () => {
		const r = await kc.createRsaKey("sdk-wrap-only", { keySize: 2048, keyOps: ["wrapKey", "unwrapKey"] });
		assert.deepEqual([...r.keyOperations].sort(), ["unwrapKey", "wrapKey"]);
		assert.deepEqual([...(await kc.getKey(r.name)).keyOperations].sort(), ["unwrapKey", "wrapKey"]);
		const cc = new CryptographyClient(r.id, cred, SDK);
		const w = await cc.wrapKey("RSA-OAEP-256", dek);
		assert.deepEqual(Buffer.from((await cc.unwrapKey("RSA-OAEP-256", w.result)).result), dek);
		/* The SDK refuses locally from the GET's key_ops ... */
		await assert.rejects(cc.encrypt({ algorithm: "RSA-OAEP-256", plaintext: dek }),
		    /Operation encrypt is not supported/);
		/* ... and the service refuses it too. */
		const res = await raw("POST", `/keys/sdk-wrap-only/${r.properties.version}/encrypt?api-version=7.4`,
		    { body: { alg: "RSA-OAEP-256", value: dek.toString("base64url") } });
		assert.equal(res.status, 403);
		assert.equal(res.json.error.code, "Forbidden");
		assert.equal(res.json.error.innererror.code, "KeyOperationForbidden");
		/* Empty key_ops: GET must not answer [] (that broke SDK-side crypto). */
		const e = await kc.createRsaKey("sdk-empty-ops", { keySize: 2048, keyOps: [] });
		const got = await kc.getKey(e.name);
		assert.deepEqual([...got.keyOperations].sort(),
		    ["decrypt", "encrypt", "sign", "unwrapKey", "verify", "wrapKey"]);
		const ce = new CryptographyClient(e.id, cred, SDK);
		const we = await ce.wrapKey("RSA-OAEP-256", dek);
		assert.deepEqual(Buffer.from((await ce.unwrapKey("RSA-OAEP-256", we.result)).result), dek);
		/* An update with keyOps [] restores the defaults rather than locking the key. */
		const u = await kc.updateKeyProperties(r.name, r.properties.version, { keyOps: [] });
		assert.ok(u.keyOperations.includes("encrypt"));
	});
});

describe("more key shapes: import, RSA-HSM, oct-HSM", () => {
	const cred = secretCredential();
	const kc = new KeyClient(VAULT, cred, SDK);
	const dek = crypto.randomBytes(32);

	it("importKey of a node-generated RSA key: the service's wrap/unwrap agree with node's RSA-OAEP", async () => {
		const { privateKey } = crypto.generateKeyPairSync("rsa", { modulusLength: 2048 });
		const jwk = privateKey.export({ format: "jwk" });
		const b = (x) => Buffer.from(x, "base64url");
		const k = await kc.importKey("sdk-imported", { kty: "RSA", n: b(jwk.n), e: b(jwk.e),
		    d: b(jwk.d), p: b(jwk.p), q: b(jwk.q), dp: b(jwk.dp), dq: b(jwk.dq), qi: b(jwk.qi) });
		assert.equal(k.keyType, "RSA");
		assert.deepEqual(Buffer.from(k.key.n), b(jwk.n));
		assert.equal(k.key.d, undefined, "the private part is never returned");
		const cc = kc.getCryptographyClient("sdk-imported", { keyVersion: k.properties.version });
		const s0 = await stats();
		/* Service wrap -> node unwrap, for OAEP-256 (remote in the SDK). */
		const w = Buffer.from((await cc.wrapKey("RSA-OAEP-256", dek)).result);
		assert.equal(op(await stats(), "wrapkey") - op(s0, "wrapkey"), 1);
		assert.deepEqual(crypto.privateDecrypt({ key: privateKey, oaepHash: "sha256",
		    padding: crypto.constants.RSA_PKCS1_OAEP_PADDING }, w), dek);
		/* node wrap -> service unwrap, for each RSA algorithm. */
		const pub = crypto.createPublicKey(privateKey);
		const cases = [
			["RSA-OAEP-256", { oaepHash: "sha256", padding: crypto.constants.RSA_PKCS1_OAEP_PADDING }],
			["RSA-OAEP", { oaepHash: "sha1", padding: crypto.constants.RSA_PKCS1_OAEP_PADDING }],
		];
		for (const [alg, opts] of cases) {
			const ct = crypto.publicEncrypt({ key: pub, ...opts }, dek);
			assert.deepEqual(Buffer.from((await cc.unwrapKey(alg, ct)).result), dek, alg);
			assert.deepEqual(Buffer.from((await cc.decrypt({ algorithm: alg, ciphertext: ct })).result), dek, alg);
		}
		/* Importing different parts under one name must not pass. */
		const other = crypto.generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey.export({ format: "jwk" });
		await expectRestError(kc.importKey("sdk-imported-bad", { kty: "RSA", n: b(jwk.n), e: b(jwk.e),
		    d: b(other.d), p: b(other.p), q: b(other.q), dp: b(other.dp), dq: b(other.dq),
		    qi: b(other.qi) }), 400, "BadParameter");
	});

	it("createRsaKey with hsm: kty RSA-HSM, and it wraps like RSA", async () => {
		const k = await kc.createRsaKey("sdk-hsm", { keySize: 2048, hsm: true });
		assert.equal(k.keyType, "RSA-HSM");
		const cc = new CryptographyClient(k.id, cred, SDK);
		const w = await cc.wrapKey("RSA-OAEP-256", dek);
		assert.deepEqual(Buffer.from((await cc.unwrapKey("RSA-OAEP-256", w.result)).result), dek);
	});

	it("oct-HSM (Managed HSM mode): A256KW wrap/unwrap and A256GCM encrypt/decrypt with service-made IV and tag", async () => {
		const k = await kc.createOctKey("sdk-oct", { hsm: true, keySize: 256 });
		assert.equal(k.keyType, "oct-HSM");
		assert.equal(k.key.k, undefined, "no symmetric material leaves the service");
		const cc = new CryptographyClient(k.id, cred, SDK);
		const w = await cc.wrapKey("A256KW", dek);
		assert.equal(w.result.length, 40, "RFC 3394: 32 + 8 bytes");
		assert.deepEqual(Buffer.from((await cc.unwrapKey("A256KW", w.result)).result), dek);
		const aad = Buffer.from("atrest sdk test");
		const pt = crypto.randomBytes(77);
		const e = await cc.encrypt({ algorithm: "A256GCM", plaintext: pt, additionalAuthenticatedData: aad });
		assert.equal(e.iv.length, 12);
		assert.equal(e.authenticationTag.length, 16);
		assert.equal(e.result.length, pt.length);
		const d = await cc.decrypt({ algorithm: "A256GCM", ciphertext: e.result, iv: e.iv,
		    authenticationTag: e.authenticationTag, additionalAuthenticatedData: aad });
		assert.deepEqual(Buffer.from(d.result), pt);
		const badTag = Buffer.from(e.authenticationTag);
		badTag[0] ^= 1;
		await expectRestError(cc.decrypt({ algorithm: "A256GCM", ciphertext: e.result, iv: e.iv,
		    authenticationTag: badTag, additionalAuthenticatedData: aad }), 400, "BadParameter");
		await expectRestError(cc.decrypt({ algorithm: "A256GCM", ciphertext: e.result, iv: e.iv,
		    authenticationTag: e.authenticationTag, additionalAuthenticatedData: Buffer.from("other") }),
		    400, "BadParameter");
	});

	it("operations the server does not implement fail fast with RestError 501 (sign, backup)", async () => {
		const k = await kc.getKey("sdk-hsm");
		const cc = new CryptographyClient(k, cred, SDK);
		await expectRestError(cc.sign("RS256", crypto.createHash("sha256").update("x").digest()), 501, "NotImplemented");
		await expectRestError(kc.backupKey("sdk-hsm"), 501, "NotImplemented");
	});
});

describe("what emulator users hit (docs/VAULT.md)", () => {
	const cred = secretCredential();
	const kc = new KeyClient(VAULT, cred, SDK);
	const dek = crypto.randomBytes(32);
	let key;

	before(async () => {
		key = await kc.createRsaKey("sdk-paths", { keySize: 2048 });
	});

	after(() => setConfig(DEFAULT_CONFIG));

	it("camel-case /wrapKey and /unwrapKey paths (as .NET sends them) work", async () => {
		const rec = recorder();
		const camel = {
			position: "perCall",
			policy: {
				name: "camelCasePaths",
				sendRequest(req, next) {
					req.url = req.url.replace(/\/wrapkey\?/, "/wrapKey?").replace(/\/unwrapkey\?/, "/unwrapKey?");
					return next(req);
				},
			},
		};
		const cc = new CryptographyClient(key.id, cred,
		    { ...SDK, additionalPolicies: [camel, ...rec.policies] });
		const w = await cc.wrapKey("RSA-OAEP-256", dek);
		const u = await cc.unwrapKey("RSA-OAEP-256", w.result);
		assert.deepEqual(Buffer.from(u.result), dek);
		const ok = rec.log.filter((r) => r.status === 200).map((r) => new URL(r.url).pathname);
		assert.ok(ok.includes(`/keys/sdk-paths/${key.properties.version}/wrapKey`), ok.join(" "));
		assert.ok(ok.includes(`/keys/sdk-paths/${key.properties.version}/unwrapKey`), ok.join(" "));
	});

	it("versionless crypto: a client built from /keys/NAME sends //wrapkey and the service uses the latest version", async () => {
		const rec = recorder();
		const cc = new CryptographyClient(`${VAULT}/keys/sdk-paths`, cred,
		    { ...SDK, additionalPolicies: rec.policies });
		const s0 = await stats();
		const w = await cc.wrapKey("RSA-OAEP-256", dek);
		assert.equal(op(await stats(), "wrapkey") - op(s0, "wrapkey"), 1);
		const ok = rec.log.filter((r) => r.status === 200).map((r) => new URL(r.url).pathname);
		assert.ok(ok.includes("/keys/sdk-paths/"), `trailing-slash GET: ${ok}`);
		assert.ok(ok.includes("/keys/sdk-paths//wrapkey"), `empty version: ${ok}`);
		/* The versioned client unwraps it: it was the latest version. */
		const cv = new CryptographyClient(key.id, cred, SDK);
		assert.deepEqual(Buffer.from((await cv.unwrapKey("RSA-OAEP-256", w.result)).result), dek);
		/* The service's answer names the version it used, in both path forms. */
		for (const p of ["/keys/sdk-paths/wrapkey", "/keys/sdk-paths//wrapKey"]) {
			const r = await raw("POST", `${p}?api-version=2025-07-01`,
			    { body: { alg: "RSA-OAEP-256", value: dek.toString("base64url") } });
			assert.equal(r.status, 200, `${p}: ${r.text}`);
			assert.equal(r.json.kid, key.id, p);
		}
		/* After a rotation the versionless client wraps with the new version. */
		const rotated = await kc.rotateKey("sdk-paths");
		const cc2 = new CryptographyClient(`${VAULT}/keys/sdk-paths`, cred, SDK);
		const w2 = await cc2.wrapKey("RSA-OAEP-256", dek);
		await expectRestError(cv.unwrapKey("RSA-OAEP-256", w2.result), 400, "BadParameter");
		const cr = new CryptographyClient(rotated.id, cred, SDK);
		assert.deepEqual(Buffer.from((await cr.unwrapKey("RSA-OAEP-256", w2.result)).result), dek);
	});

	it("trailing-slash GET and a versionless PATCH with a trailing slash", async () => {
		const g = await raw("GET", "/keys/sdk-paths/?api-version=7.4");
		assert.equal(g.status, 200, g.text);
		assert.match(g.json.key.kid, new RegExp(`^${VAULT}/keys/sdk-paths/[0-9a-f]{32}$`));
		const p = await raw("PATCH", "/keys/sdk-paths/?api-version=7.4",
		    { body: { tags: { via: "patch" } } });
		assert.equal(p.status, 200, p.text);
		assert.deepEqual((await kc.getKey("sdk-paths")).properties.tags, { via: "patch" });
	});

	it("api-version: the SDK's default (2025-07-01) and every serviceVersion it knows are accepted", async () => {
		const rec = recorder();
		const dflt = new KeyClient(VAULT, cred, { ...SDK, additionalPolicies: rec.policies });
		await dflt.getKey("sdk-paths");
		const versions = new Set(rec.log.map((r) => new URL(r.url).searchParams.get("api-version")));
		assert.deepEqual([...versions], ["2025-07-01"]);
		for (const v of ["7.0", "7.1", "7.2", "7.3", "7.4", "7.5", "7.6-preview.2", "7.6", "2025-07-01"]) {
			const c = new KeyClient(VAULT, cred, { ...SDK, serviceVersion: v });
			const k = await c.getKey("sdk-paths");
			assert.equal(k.name, "sdk-paths", v);
			const cc = new CryptographyClient(k.id, cred, { ...SDK, serviceVersion: v });
			const w = await cc.wrapKey("RSA-OAEP-256", dek);
			assert.deepEqual(Buffer.from((await cc.unwrapKey("RSA-OAEP-256", w.result)).result), dek, v);
		}
	});

	it("api-version: an unknown one gets the service's 400 BadParameter in strict mode, and passes in 'any' mode", async () => {
		const c = new KeyClient(VAULT, cred, { ...SDK, serviceVersion: "7.9" });
		const err = await expectRestError(c.getKey("sdk-paths"), 400, "BadParameter");
		assert.match(err.message, /The specified version \(7\.9\) is not recognized/);
		await setConfig({ api_versions: "any" });
		try {
			assert.equal((await c.getKey("sdk-paths")).name, "sdk-paths");
		} finally {
			await setConfig(DEFAULT_CONFIG);
		}
	});

	it("the first request of each client is the 401 challenge, answered before the body is looked at", async () => {
		const rec = recorder();
		const c = new KeyClient(VAULT, staticCredential(), { ...SDK, additionalPolicies: rec.policies });
		await c.createRsaKey("sdk-challenge", { keySize: 2048 });
		assert.equal(rec.log[0].status, 401);
		assert.equal(rec.log[0].auth, false);
		assert.equal(rec.log[1].status, 200);
		assert.equal(rec.log[1].auth, true);
		const r = await raw("POST", "/keys/x/create", { token: null, body: "{not json" });
		assert.equal(r.status, 401);
		assert.match(r.headers["www-authenticate"], /^Bearer authorization="https:\/\/127\.0\.0\.1:\d+\/[0-9a-f-]{36}", resource="https:\/\/vault\.azure\.net"$/);
	});
});

describe("interop with the C side: atrest encrypt/decrypt with SDK-made keys", () => {
	const cred = secretCredential();
	const kc = new KeyClient(VAULT, cred, SDK);
	const name = "sdk-interop";
	let dir, key, plain, keyUri;

	before(async () => {
		assert.ok(existsSync(ATREST), `atrest binary ${ATREST} (set ATREST_BIN)`);
		dir = mkdtempSync(join(tmpdir(), "atrest-sdk-"));
		key = await kc.createRsaKey(name, { keySize: 3072 });
		keyUri = `${VAULT}/keys/${name}`;
		plain = crypto.randomBytes(200000);
		writeFileSync(join(dir, "plain"), plain);
	});

	after(async () => {
		await setConfig(DEFAULT_CONFIG);
		if (dir)
			rmSync(dir, { recursive: true, force: true });
	});

	it("atrest encrypt (client credentials) records the SDK key's versioned kid; atrest decrypt opens it", async () => {
		const enc = await run(["encrypt", "-q", "--key", keyUri, "-o", join(dir, "a.atr"), join(dir, "plain")],
		    clientCredEnv());
		assert.equal(enc.code, 0, enc.stderr);
		const env = parseEnvelope(readFileSync(join(dir, "a.atr")));
		assert.equal(env.stanzas.length, 1);
		assert.equal(env.stanzas[0].provider, 4, "azure-kv");
		assert.equal(env.stanzas[0].alg, 1, "RSA-OAEP-256");
		assert.equal(env.stanzas[0].keyId, key.id);
		assert.equal(env.stanzas[0].wrapped.length, 384);
		const dec = await run(["decrypt", "-q", "--key", keyUri, "-o", join(dir, "a.out"), join(dir, "a.atr")],
		    clientCredEnv());
		assert.equal(dec.code, 0, dec.stderr);
		assert.deepEqual(readFileSync(join(dir, "a.out")), plain);
	});

	it("the SDK unwraps the DEK atrest wrapped: context digest, key commitment and header MAC check out", async () => {
		const buf = readFileSync(join(dir, "a.atr"));
		const env = parseEnvelope(buf);
		const s = env.stanzas[0];
		const cc = new CryptographyClient(s.keyId, cred, SDK);
		const u = Buffer.from((await cc.unwrapKey("RSA-OAEP-256", s.wrapped)).result);
		assert.equal(u.length, 64, "wrap input = DEK(32) | SHA-256(context)(32)");
		assert.deepEqual(u.subarray(32), contextDigest(env, s));
		const keys = deriveKeys(env, u.subarray(0, 32));
		assert.deepEqual(keys.commitment, Buffer.from(env.commitment));
		assert.deepEqual(headerMac(buf, env, keys.macKey), Buffer.from(env.mac));
	});

	it("a DEK wrapped by the SDK (in the service) is unwrapped by atrest decrypt", async () => {
		const buf = Buffer.from(readFileSync(join(dir, "a.atr")));
		const env = parseEnvelope(buf);
		const s = env.stanzas[0];
		const rec = recorder();
		const cc = new CryptographyClient(s.keyId, cred, { ...SDK, additionalPolicies: rec.policies });
		const input = Buffer.from((await cc.unwrapKey("RSA-OAEP-256", s.wrapped)).result);
		const macKey = deriveKeys(env, input.subarray(0, 32)).macKey;
		const w = Buffer.from((await cc.wrapKey("RSA-OAEP-256", input)).result);
		assert.ok(rec.log.some((r) => r.status === 200 && r.url.includes("/wrapkey?")), "wrapped by the service");
		assert.equal(w.length, s.wrapped.length);
		assert.notDeepEqual(w, s.wrapped, "OAEP is randomised: a new wrapped value");
		w.copy(buf, s.wrappedOff);
		headerMac(buf, env, macKey).copy(buf, env.macOff);
		writeFileSync(join(dir, "b.atr"), buf);
		const dec = await run(["decrypt", "-q", "--key", keyUri, "-o", join(dir, "b.out"), join(dir, "b.atr")],
		    clientCredEnv());
		assert.equal(dec.code, 0, dec.stderr);
		assert.deepEqual(readFileSync(join(dir, "b.out")), plain);

		/* Negative: the same swap without fixing the MAC is refused ... */
		const noMac = Buffer.from(readFileSync(join(dir, "a.atr")));
		w.copy(noMac, s.wrappedOff);
		writeFileSync(join(dir, "c.atr"), noMac);
		let r = await run(["decrypt", "-q", "--key", keyUri, "-o", join(dir, "c.out"), join(dir, "c.atr")],
		    clientCredEnv());
		assert.equal(r.code, 1, r.stderr);
		assert.ok(!existsSync(join(dir, "c.out")));
		/* ... and so is an SDK-wrapped value with the wrong context digest,
		 * even with a correct MAC: atrest checks what it unwrapped. */
		const bad = Buffer.concat([input.subarray(0, 32), Buffer.alloc(32)]);
		const wb = Buffer.from((await cc.wrapKey("RSA-OAEP-256", bad)).result);
		const badBuf = Buffer.from(readFileSync(join(dir, "a.atr")));
		wb.copy(badBuf, s.wrappedOff);
		headerMac(badBuf, env, macKey).copy(badBuf, env.macOff);
		writeFileSync(join(dir, "d.atr"), badBuf);
		r = await run(["decrypt", "-q", "--key", keyUri, "-o", join(dir, "d.out"), join(dir, "d.atr")],
		    clientCredEnv());
		assert.equal(r.code, 1, r.stderr);
		assert.ok(!existsSync(join(dir, "d.out")));
	});

	it("atrest accepts the SDK's token (ATREST_AZURE_TOKEN) in token-mode validate; a bogus one is refused", async () => {
		await setConfig({ token_mode: "validate" });
		const t = await cred.getToken("https://vault.azure.net/.default");
		const dec = await run(["decrypt", "-q", "--key", keyUri, "-o", join(dir, "e.out"), join(dir, "a.atr")],
		    atrestEnv({ ATREST_AZURE_TOKEN: t.token }));
		assert.equal(dec.code, 0, dec.stderr);
		assert.deepEqual(readFileSync(join(dir, "e.out")), plain);
		const bad = await run(["decrypt", "-q", "--key", keyUri, "-o", join(dir, "f.out"), join(dir, "a.atr")],
		    atrestEnv({ ATREST_AZURE_TOKEN: "bogus" }));
		assert.equal(bad.code, 2, bad.stderr);
		assert.match(bad.stderr, /401|nauthori/);
		assert.ok(!bad.stderr.includes(t.token), "no token in messages");
		await setConfig(DEFAULT_CONFIG);
	});

	it("after the SDK rotates the key, atrest still opens old objects and wraps new ones with the new version", async () => {
		const r = await kc.rotateKey(name);
		const enc = await run(["encrypt", "-q", "--key", keyUri, "-o", join(dir, "g.atr"), join(dir, "plain")],
		    clientCredEnv());
		assert.equal(enc.code, 0, enc.stderr);
		assert.equal(parseEnvelope(readFileSync(join(dir, "g.atr"))).stanzas[0].keyId, r.id);
		for (const f of ["a", "g"]) {
			const dec = await run(["decrypt", "-q", "--key", keyUri, "-o", join(dir, `${f}.rot.out`),
			    join(dir, `${f}.atr`)], clientCredEnv());
			assert.equal(dec.code, 0, `${f}: ${dec.stderr}`);
			assert.deepEqual(readFileSync(join(dir, `${f}.rot.out`)), plain);
		}
	});

	it("after the SDK disables the version, atrest decrypt fails (key disabled) and writes nothing", async () => {
		await kc.updateKeyProperties(name, key.properties.version, { enabled: false });
		try {
			const dec = await run(["decrypt", "-q", "--key", keyUri, "-o", join(dir, "h.out"), join(dir, "a.atr")],
			    clientCredEnv());
			assert.notEqual(dec.code, 0);
			assert.match(dec.stderr, /disabled/i);
			assert.ok(!existsSync(join(dir, "h.out")));
		} finally {
			await kc.updateKeyProperties(name, key.properties.version, { enabled: true });
		}
		const dec = await run(["decrypt", "-q", "--key", keyUri, "-o", join(dir, "i.out"), join(dir, "a.atr")],
		    clientCredEnv());
		assert.equal(dec.code, 0, dec.stderr);
	});
});
