// A Cosmos DB (SQL API) server on loopback for the tests: @vercel/cosmosdb-server with one upstream
// bug fixed before its routes are built. A point read of a missing document answers 404 NotFound,
// as Cosmos DB does (upstream answers 500: it reads a field of the undefined document).
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

const { createHttpsServer } = require("@vercel/cosmosdb-server");

const portAt = process.argv.indexOf("--port");
const port = portAt >= 0 ? parseInt(process.argv[portAt + 1], 10) : 0;
const server = createHttpsServer().listen(port, "127.0.0.1", () => {
  console.log(`cosmos ready on 127.0.0.1:${server.address().port}`);
});
