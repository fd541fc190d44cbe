# Licensed under the Apache License, Version 2.0; see LICENSE.
#
# Errors that httpd raises itself before the handler runs, such as 403
# from Require, come in the API's JSON envelope (or as JSON-RPC on /mcp),
# not as httpd's HTML page.
use strict;
use warnings FATAL => 'all';

use Apache::Test;
use Apache::TestUtil;
use ItsmTest;

plan tests => 8;

my $res = api(GET => '/api-denied/health');
ok t_cmp($res->{status}, 403, 'denied API location is 403');
ok t_cmp($res->{type}, qr{^application/json}, 'denied API error is JSON');
ok t_cmp($res->{json}{success}, JSON::PP::false, 'denied API success false');
ok t_cmp($res->{json}{message}, 'Access denied', 'denied API message');

$res = api(POST => '/mcp-denied', body => '{"jsonrpc":"2.0","id":1,'
           . '"method":"ping"}');
ok t_cmp($res->{status}, 403, 'denied MCP location is 403');
ok t_cmp($res->{type}, qr{^application/json}, 'denied MCP error is JSON');
ok t_cmp($res->{json}{jsonrpc}, '2.0', 'denied MCP error is JSON-RPC');
ok t_cmp(index($res->{body}, '<html') < 0 ? 1 : 0, 1,
         'denied MCP error has no HTML');
