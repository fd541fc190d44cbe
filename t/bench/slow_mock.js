// Licensed under the Apache License, Version 2.0; see LICENSE.
//
// HTTP server for t/bench/runner_sweep.pl. It responds to every request
// with 200 {"status":"ok"} after a fixed delay. One process holds the
// requests with timers, so thousands of them can wait at the same time.
// It listens on 127.0.0.1 only and prints "port N" once it listens. On
// SIGTERM or SIGINT it prints one JSON line of statistics and exits.
//
//   node t/bench/slow_mock.js [delay_ms]      (default 100)
'use strict';

const http = require('http');

const delayMs = Number(process.argv[2] || 100);
let requests = 0;
let inFlight = 0;
let maxInFlight = 0;
let connections = 0;

const server = http.createServer((req, res) => {
    requests++;
    inFlight++;
    if (inFlight > maxInFlight) {
        maxInFlight = inFlight;
    }
    req.resume();
    setTimeout(() => {
        inFlight--;
        res.writeHead(200, { 'Content-Type': 'application/json' });
        res.end('{"status":"ok"}');
    }, delayMs);
});
server.keepAliveTimeout = 60000;
server.on('connection', () => connections++);

function stop() {
    const cpu = process.cpuUsage();
    process.stdout.write(JSON.stringify({
        requests, maxInFlight, connections,
        cpuUserMs: Math.round(cpu.user / 1000),
        cpuSystemMs: Math.round(cpu.system / 1000),
    }) + '\n');
    process.exit(0);
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);

server.listen(0, '127.0.0.1', () => {
    process.stdout.write(`port ${server.address().port}\n`);
});
