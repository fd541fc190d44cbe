# Licensed under the Apache License, Version 2.0; see LICENSE.
#
# /mcp as a stateless streamable HTTP endpoint: one application/json
# JSON-RPC response per request, 202 without a body for notifications and
# client responses, 405 for GET and DELETE, no session ids, protocol
# version negotiation and the MCP-Protocol-Version header, JSON-RPC error
# codes, and the transport checks (Origin, Content-Type, Accept, body
# size). The allowed Origin of ITSMMCPAllowedOrigin is tested on the
# itsm_mcp_paged virtual host, which sets it.
use strict;
use warnings FATAL => 'all';

use Apache::Test;
use Apache::TestRequest ();
use Apache::TestUtil;
use ItsmTest;
use ItsmIntegration qw(on_vhost);
use ItsmMcp;

plan tests => 153;

my $token = admin_token();

# Every response of this file, for the session id check at the end.
my @responses;

sub post {
    my ($message, %opt) = @_;
    my $res = mcp_post($message, token => $token, %opt);
    push @responses, $res;
    return $res;
}

sub request {
    my ($method, %opt) = @_;
    my $res = rpc($token, $method, $opt{params}, %opt);
    push @responses, $res;
    return $res;
}

# The JSON-RPC error code of a response, or undef.
sub code_of {
    my ($res) = @_;
    return ref $res->{json} eq 'HASH' && ref $res->{json}{error} eq 'HASH'
           ? $res->{json}{error}{code} : undef;
}

# --- initialize and version negotiation --------------------------------

my $res = request('initialize', params => {
    protocolVersion => '2025-11-25', capabilities => {},
    clientInfo => { name => 'protocol.t', version => '1' } },
    headers => { 'MCP-Protocol-Version' => undef });
ok t_cmp($res->{status}, 200, 'initialize status');
ok t_cmp($res->{type}, qr{^application/json\b}, 'initialize is json');
ok t_cmp($res->{json}{result}{protocolVersion}, '2025-11-25',
         'initialize 2025-11-25');
ok t_cmp($res->{json}{result}{serverInfo}{name}, 'mod_itsm',
         'initialize server name');
ok t_cmp(ref $res->{json}{result}{capabilities}{tools}, 'HASH',
         'initialize tools capability');
ok t_cmp(length($res->{json}{result}{instructions} // ''), qr/^[1-9]/,
         'initialize instructions');

for my $version ('2025-06-18', '2025-03-26') {
    $res = request('initialize', params => { protocolVersion => $version },
                   headers => { 'MCP-Protocol-Version' => undef });
    ok t_cmp($res->{json}{result}{protocolVersion}, $version,
             "initialize $version");
}
for my $version ('2024-11-05', '2099-01-01', 'latest') {
    $res = request('initialize', params => { protocolVersion => $version },
                   headers => { 'MCP-Protocol-Version' => undef });
    ok t_cmp($res->{json}{result}{protocolVersion}, '2025-11-25',
             "initialize $version gets latest");
}
$res = request('initialize', params => {},
               headers => { 'MCP-Protocol-Version' => undef });
ok t_cmp($res->{json}{result}{protocolVersion}, '2025-11-25',
         'initialize without version');

# The header is not checked on initialize itself.
$res = request('initialize', params => { protocolVersion => '2025-06-18' },
               headers => { 'MCP-Protocol-Version' => '1999-01-01' });
ok t_cmp($res->{status}, 200, 'initialize ignores version header');

# --- MCP-Protocol-Version on later requests ----------------------------

for my $version ('2025-11-25', '2025-06-18', '2025-03-26') {
    $res = request('ping',
                   headers => { 'MCP-Protocol-Version' => $version });
    ok t_cmp($res->{status}, 200, "ping with header $version");
}
$res = request('ping', headers => { 'MCP-Protocol-Version' => undef });
ok t_cmp($res->{status}, 200, 'ping without version header');

for my $version ('2024-11-05', '2099-01-01', 'garbage') {
    $res = request('tools/list',
                   headers => { 'MCP-Protocol-Version' => $version });
    ok t_cmp($res->{status}, 400, "version header $version is 400");
    ok t_cmp(code_of($res), qr/^-32\d\d\d$/,
             "version header $version is a JSON-RPC error");
}
$res = post({ jsonrpc => '2.0', method => 'notifications/initialized' },
            headers => { 'MCP-Protocol-Version' => '2099-01-01' });
ok t_cmp($res->{status}, 400, 'notification with bad version is 400');

# --- ping and ids -------------------------------------------------------

$res = post({ jsonrpc => '2.0', id => 'p1', method => 'ping' });
ok t_cmp($res->{status}, 200, 'ping status');
ok t_cmp($res->{body}, qr/"result":\{\}/, 'ping result is empty object');
ok t_cmp($res->{body}, qr/"id":"p1"/, 'string id echoed as string');
$res = post({ jsonrpc => '2.0', id => 7, method => 'ping' });
ok t_cmp($res->{body}, qr/"id":7[,}]/, 'integer id echoed as integer');
$res = post({ jsonrpc => '2.0', id => 0, method => 'ping' });
ok t_cmp($res->{body}, qr/"id":0[,}]/, 'id zero echoed');
$res = post({ jsonrpc => '2.0', id => 8, method => 'ping', params => undef });
ok t_cmp($res->{status}, 200, 'null params are absent params');
$res = post({ jsonrpc => '2.0', id => 9, method => 'ping',
              params => { _meta => { progressToken => 1 } } });
ok t_cmp($res->{status}, 200, 'ping ignores _meta');

# --- notifications and client responses ---------------------------------

for my $case (
    [ 'initialized', { jsonrpc => '2.0',
                       method => 'notifications/initialized' } ],
    [ 'cancelled', { jsonrpc => '2.0', method => 'notifications/cancelled',
                     params => { requestId => 4, reason => 'timeout' } } ],
    [ 'unknown notification', { jsonrpc => '2.0',
                                method => 'notifications/whatever' } ],
    [ 'client result', { jsonrpc => '2.0', id => 5, result => {} } ],
    [ 'client error', { jsonrpc => '2.0', id => 'x',
                        error => { code => -1, message => 'no' } } ],
) {
    my ($what, $message) = @$case;
    $res = post($message);
    ok t_cmp($res->{status}, 202, "$what is 202");
    ok t_cmp($res->{body}, '', "$what has no body");
    ok t_cmp($res->{type}, '', "$what has no content type");
}

# --- methods other than POST --------------------------------------------

for my $method (qw(GET DELETE PUT)) {
    $res = api($method => '/mcp', token => $token,
               headers => { Accept => 'text/event-stream' });
    push @responses, $res;
    ok t_cmp($res->{status}, 405, "$method is 405");
    ok t_cmp(scalar $res->{headers}->header('Allow'), 'POST',
             "$method Allow header");
}
$res = api(GET => '/mcp', headers => { Accept => 'text/event-stream' });
ok t_cmp($res->{status}, 405, 'GET without token is 405');

# --- JSON-RPC errors -----------------------------------------------------

for my $case (
    [ 'truncated json', '{"jsonrpc":"2.0","id":1,', 400, -32700 ],
    [ 'empty body', '', 400, -32700 ],
    [ 'invalid utf-8', qq({"jsonrpc":"2.0","id":1,"method":"p\xffing"}),
      400, -32700 ],
    [ 'duplicate member', '{"jsonrpc":"2.0","id":1,"id":2,"method":"ping"}',
      400, -32700 ],
    [ 'jsonrpc 1.0', '{"jsonrpc":"1.0","id":1,"method":"ping"}', 400,
      -32600 ],
    [ 'no jsonrpc', '{"id":1,"method":"ping"}', 400, -32600 ],
    [ 'numeric jsonrpc', '{"jsonrpc":2.0,"id":1,"method":"ping"}', 400,
      -32600 ],
    [ 'batch', '[{"jsonrpc":"2.0","id":1,"method":"ping"}]', 400, -32600 ],
    [ 'empty batch', '[]', 400, -32600 ],
    [ 'null id', '{"jsonrpc":"2.0","id":null,"method":"ping"}', 400,
      -32600 ],
    [ 'fraction id', '{"jsonrpc":"2.0","id":1.5,"method":"ping"}', 400,
      -32600 ],
    [ 'object id', '{"jsonrpc":"2.0","id":{},"method":"ping"}', 400,
      -32600 ],
    [ 'boolean id', '{"jsonrpc":"2.0","id":true,"method":"ping"}', 400,
      -32600 ],
    [ 'no method', '{"jsonrpc":"2.0","id":1}', 400, -32600 ],
    [ 'numeric method', '{"jsonrpc":"2.0","id":1,"method":5}', 400,
      -32600 ],
    [ 'scalar body', '42', 400, -32600 ],
    [ 'unknown method', '{"jsonrpc":"2.0","id":1,"method":"resources/list"}',
      200, -32601 ],
    [ 'params array', '{"jsonrpc":"2.0","id":1,"method":"tools/list",'
      . '"params":[]}', 200, -32602 ],
    [ 'params string', '{"jsonrpc":"2.0","id":1,"method":"ping",'
      . '"params":"x"}', 200, -32602 ],
    [ 'unknown tool', '{"jsonrpc":"2.0","id":1,"method":"tools/call",'
      . '"params":{"name":"drop_tables"}}', 200, -32602 ],
    [ 'call without name', '{"jsonrpc":"2.0","id":1,"method":"tools/call",'
      . '"params":{"arguments":{}}}', 200, -32602 ],
    [ 'call without params', '{"jsonrpc":"2.0","id":1,'
      . '"method":"tools/call"}', 200, -32602 ],
    [ 'numeric tool name', '{"jsonrpc":"2.0","id":1,"method":"tools/call",'
      . '"params":{"name":3}}', 200, -32602 ],
) {
    my ($what, $body, $status, $code) = @$case;
    $res = post($body, raw => 1);
    ok t_cmp($res->{status}, $status, "$what status");
    ok t_cmp(code_of($res), $code, "$what code");
    ok t_cmp($res->{type}, qr{^application/json\b}, "$what is json");
}

# The id of a request that was read is echoed in its error.
$res = post({ jsonrpc => '2.0', id => 'u1', method => 'nope/nope' });
ok t_cmp($res->{json}{id}, 'u1', 'method error keeps id');
$res = post('{"jsonrpc":"2.0","id":1,', raw => 1);
ok t_cmp($res->{body}, qr/"id":null/, 'parse error has null id');

# --- transport checks ----------------------------------------------------

my $url = Apache::TestRequest::resolve_url('/mcp');
my ($own_origin) = $url =~ m{^(https?://[^/]+)};
my $ping = { jsonrpc => '2.0', id => 1, method => 'ping' };

for my $case ([ 'foreign', 'http://evil.example', 403 ],
              [ 'null', 'null', 403 ],
              [ 'suffixed', "$own_origin.evil.example", 403 ],
              [ 'other port', 'http://127.0.0.1:1', 403 ],
              [ 'own', $own_origin, 200 ],
              [ 'configured elsewhere', 'https://console.example.com', 403 ]) {
    my ($what, $origin, $status) = @$case;
    $res = post($ping, headers => { Origin => $origin });
    ok t_cmp($res->{status}, $status, "$what origin");
}
$res = post($ping, headers => { Origin => 'http://evil.example' });
ok t_cmp(code_of($res), qr/^-32\d\d\d$/, 'origin 403 is JSON-RPC');
$res = post($ping);
ok t_cmp($res->{status}, 200, 'absent origin');

# ITSMMCPAllowedOrigin on the virtual host adds an origin there.
$res = on_vhost('itsm_mcp_paged', sub {
    post($ping, headers => { Origin => 'https://console.example.com' });
});
ok t_cmp($res->{status}, 200, 'configured origin on its host');
$res = on_vhost('itsm_mcp_paged', sub {
    post($ping, headers => { Origin => 'http://evil.example' });
});
ok t_cmp($res->{status}, 403, 'foreign origin on configured host');

for my $case ([ 'text/plain', 415 ], [ undef, 415 ],
              [ 'application/x-www-form-urlencoded', 415 ],
              [ 'application/json; charset=utf-8', 200 ]) {
    my ($type, $status) = @$case;
    $res = post($ping, type => $type);
    ok t_cmp($res->{status}, $status,
             'content type ' . ($type // 'absent'));
}
ok t_cmp(code_of(post($ping, type => 'text/plain')), qr/^-32\d\d\d$/,
         '415 is JSON-RPC');

for my $case ([ 'text/event-stream', 406 ], [ 'text/html', 406 ],
              [ 'application/json', 200 ], [ '*/*', 200 ],
              [ undef, 200 ]) {
    my ($accept, $status) = @$case;
    $res = post($ping, headers => { Accept => $accept });
    ok t_cmp($res->{status}, $status, 'accept ' . ($accept // 'absent'));
}
$res = post($ping, headers => { Accept => 'text/event-stream' });
ok t_cmp(code_of($res), qr/^-32\d\d\d$/, '406 is JSON-RPC');

# The body limit is 64 KiB.
my $big = '{"jsonrpc":"2.0","id":1,"method":"ping","params":{"pad":"'
          . ('x' x 70000) . '"}}';
$res = post($big, raw => 1);
ok t_cmp($res->{status}, 413, 'oversized body is 413');
ok t_cmp(code_of($res), qr/^-32\d\d\d$/, 'oversized body is JSON-RPC');
$res = chunked_request(POST => '/mcp', token => $token,
                       chunks => [ map { substr $big, $_ * 8192, 8192 }
                                   0 .. int(length($big) / 8192) ]);
ok t_cmp($res->{status}, 413, 'oversized chunked body is 413');
$res = chunked_request(POST => '/mcp', token => $token,
                       chunks => [ '{"jsonrpc":"2.0","id":1,',
                                   '"method":"ping"}' ]);
ok t_cmp($res->{status}, 200, 'chunked body is read');

# A chunked body with broken framing is a 400, not a 405 for the GET that
# httpd's error redirect makes of it.
$res = raw_request("POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                   . "Connection: close\r\nContent-Type: application/json\r\n"
                   . "Authorization: Bearer $token\r\n"
                   . "Transfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n");
ok t_cmp($res->{status}, 400, 'broken chunked framing is 400');
ok t_cmp(code_of($res), qr/^-32\d\d\d$/, 'broken framing is JSON-RPC');

# --- no sessions ----------------------------------------------------------

ok t_cmp(scalar(grep { defined $_->{headers}->header('Mcp-Session-Id') }
                @responses), 0, 'no session id header');
ok t_cmp(scalar @responses, qr/^[1-9]\d+$/, 'session check saw responses');
