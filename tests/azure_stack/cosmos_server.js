// A Cosmos DB (SQL API) server on loopback for the tests: @vercel/cosmosdb-server with one upstream
// bug fixed before its routes are built. A point read of a missing document answers 404 NotFound,
// as Cosmos DB does (upstream answers 500: it reads a field of the undefined document).
// Connections are kept alive, as Cosmos DB's are: upstream closes each one after its response, so
// every request would pay a new TLS handshake (about 50 ms on loopback, most of the client's time).
// Usage: node cosmos_server.js --port PORT
"use strict";

const readDocument = require("@vercel/cosmosdb-server/lib/handler/read-document");

const upstreamRead = readDocument.default;
readDocument.default = (account, req, res, params) => {
  try {
    return upstreamRead(account, req, res, params);
  } catch (err) {
    if (!(err instanceof TypeError)) throw err;
    res.statusCode = 404;
    return { code: "NotFound", message: "Entity with the specified id does not exist in the system." };
  }
};

// A single-partition query is parsed twice upstream: once, cached, to run it, and once more, uncached,
// to check that it names the partition key (about 70 ms of parsing per query). The parse is
// remembered by query text here (a parsed query is reusable: its parameters come at run time).
const cosmosQuery = require("@zeit/cosmosdb-query");
const parseQuery = cosmosQuery.default;
const parsedQueries = new Map();
cosmosQuery.default = (text) => {
  let parsed = parsedQueries.get(text);
  if (parsed === undefined) {
    parsed = parseQuery(text);
    if (parsedQueries.size >= 1024) parsedQueries.delete(parsedQueries.keys().next().value);
    parsedQueries.set(text, parsed);
  }
  return parsed;
};

const { createHttpsServer } = require("@vercel/cosmosdb-server");

const portAt = process.argv.indexOf("--port");
const port = portAt >= 0 ? parseInt(process.argv[portAt + 1], 10) : 0;
const server = createHttpsServer({ keepAlive: true }).listen(port, "127.0.0.1", () => {
  console.log(`cosmos ready on 127.0.0.1:${server.address().port}`);
});
