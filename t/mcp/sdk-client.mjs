// Licensed under the Apache License, Version 2.0; see LICENSE.
//
// Drives /mcp with the official MCP TypeScript SDK client, as an agent's
// host would: connects with an API key as Bearer credentials, lists every
// tool page and calls the tools named in a JSON file. Prints one JSON
// document with the server info, the tools and each call's result or
// error. The SDK itself checks each structuredContent against the tool's
// output schema, so a schema mismatch shows up as an error here.
//
// Usage: node sdk-client.mjs URL CALLS.json   (API key in MCP_KEY)

import { readFileSync } from "node:fs";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";

const [url, callsFile] = process.argv.slice(2);
const transport = new StreamableHTTPClientTransport(new URL(url), {
  requestInit: { headers: { Authorization: `Bearer ${process.env.MCP_KEY}` } },
});
const client = new Client({ name: "mod-itsm-test", version: "1.0.0" });
const out = { tools: [], results: [] };

try {
  await client.connect(transport);
  out.serverVersion = client.getServerVersion();
  out.protocolVersion = transport.protocolVersion ?? null;
  let cursor;
  do {
    const page = await client.listTools(cursor ? { cursor } : {});
    out.tools.push(...page.tools);
    cursor = page.nextCursor;
  } while (cursor);

  const calls = callsFile ? JSON.parse(readFileSync(callsFile, "utf8")) : [];
  for (const call of calls) {
    try {
      const result = await client.callTool({ name: call.tool, arguments: call.arguments ?? {} });
      out.results.push({ ok: true, result });
    } catch (err) {
      out.results.push({ ok: false, error: String(err?.message ?? err) });
    }
  }
  await client.close();
} catch (err) {
  out.fatal = String(err?.message ?? err);
}
console.log(JSON.stringify(out));
