# Licensed under the Apache License, Version 2.0; see LICENSE.
#
# Authentication on /mcp: the JWTs and API keys of /api as Bearer
# credentials, 401 with a Bearer challenge of realm "mcp" (and
# error="invalid_token" for credentials that were sent but are not
# valid), and read-scoped API keys, which see and call only the tools
# annotated readOnlyHint.
use strict;
use warnings FATAL => 'all';

use Apache::Test;
use Apache::TestUtil;
use ItsmTest;
use ItsmIntegration;
use ItsmMcp;

plan tests => 41;

my $admin = admin_token();
my $ping = { jsonrpc => '2.0', id => 1, method => 'ping' };
my @WRITE_TOOLS = qw(add_comment assign_ticket create_ticket update_ticket);

# --- 401 and its challenge ---------------------------------------------

my $res = mcp_post($ping);
ok t_cmp($res->{status}, 401, 'no credentials is 401');
ok t_cmp(scalar $res->{headers}->header('WWW-Authenticate'),
         'Bearer realm="mcp"', 'challenge without error');
ok t_cmp($res->{type}, qr{^application/json\b}, '401 is json');

$res = mcp_post($ping, headers => { Authorization => 'Basic '
                                    . http_basic('admin@example.com', 'x') });
ok t_cmp($res->{status}, 401, 'basic scheme is 401');
ok t_cmp(scalar $res->{headers}->header('WWW-Authenticate'),
         'Bearer realm="mcp"', 'basic scheme challenge');

my $user = new_user(role => 'user');
my $revoked = api_key($user->{id}, 'write');
my ($revoked_id) = $revoked =~ /^itsm_([0-9a-f]+)_/;
api(DELETE => "auth/api-keys/$revoked_id", token => $admin);
my $expired = sign_token({ sub => $user->{id}, role => 'user', ver => 0,
                           iat => time - 7200, exp => time - 3600 });
my $unknown_key = 'itsm_' . ('0' x 24) . '_' . ('A' x 43);

for my $case ([ 'garbage token', 'not-a-token' ],
              [ 'expired jwt', $expired ],
              [ 'foreign jwt', sign_token({ sub => $user->{id} },
                                          key => 'another secret') ],
              [ 'unknown api key', $unknown_key ],
              [ 'revoked api key', $revoked ]) {
    my ($what, $credentials) = @$case;
    $res = mcp_post($ping, token => $credentials);
    ok t_cmp($res->{status}, 401, "$what is 401");
    ok t_cmp(scalar $res->{headers}->header('WWW-Authenticate'),
             qr/^Bearer realm="mcp", error="invalid_token"/,
             "$what challenge");
    ok t_cmp(has_text($res->{body}, $credentials), 0,
             "$what not echoed");
}

# The 401 comes before any other check of the request.
$res = mcp_post('{', raw => 1, type => 'text/plain');
ok t_cmp($res->{status}, 401, '401 before body checks');

# --- credentials that work -------------------------------------------------

$res = mcp_post($ping, token => $admin);
ok t_cmp($res->{status}, 200, 'admin jwt works');
$res = mcp_post($ping, token => $user->{token});
ok t_cmp($res->{status}, 200, 'user jwt works');
my $write_key = api_key($user->{id}, 'write');
$res = mcp_post($ping, token => $write_key);
ok t_cmp($res->{status}, 200, 'write api key works');
$res = mcp_post($ping, headers => { Authorization => "bearer $write_key" });
ok t_cmp($res->{status}, 200, 'scheme is case-insensitive');

# A JWT exchanged for a key acts with the key's scope.
my $read_key = api_key($user->{id}, 'read');
$res = api(POST => 'auth/api-key', json => { apiKey => $read_key });
my $read_jwt = $res->{json}{token};
ok t_cmp(defined $read_jwt ? 1 : 0, 1, 'read key exchanged for jwt');

# --- tools of a read-scoped key -------------------------------------------

sub tool_names {
    my ($credentials) = @_;
    my $list = rpc($credentials, 'tools/list', {});
    return map { $_->{name} } @{ $list->{json}{result}{tools} || [] };
}

my %annotated = map { $_->{name} => $_->{annotations} }
                @{ rpc($admin, 'tools/list', {})->{json}{result}{tools} };
my @read_only = sort grep { $annotated{$_}{readOnlyHint} } keys %annotated;
ok t_cmp(scalar @read_only, 5, 'five read-only tools');

for my $case ([ 'read key', $read_key ], [ 'read jwt', $read_jwt ]) {
    my ($what, $credentials) = @$case;
    my @names = sort(tool_names($credentials));
    ok t_cmp(join(',', @names), join(',', @read_only),
             "$what lists read-only tools");
}
ok t_cmp(scalar(tool_names($write_key)), 10, 'write key lists every tool');

# A write tool is not callable with a read-scoped key, and the service
# sees no request.
my $mock = ticket_mock();
my $it = ticket_integration($admin, 'zendesk', $mock,
                            managers => [ $user->{id} ]);
my %write_args = (
    create_ticket => { title => 'From a read key' },
    update_ticket => { ticket_id => '1', status => 'closed' },
    assign_ticket => { ticket_id => '1', user_id => '7654321' },
    add_comment   => { ticket_id => '1', comment => 'From a read key' },
);
$mock->clear_requests;
for my $tool (@WRITE_TOOLS) {
    my ($result, $r) = call_tool($read_key, $tool,
                                 { integration => $it->{_id},
                                   %{ $write_args{$tool} } });
    my $refused = $r->{json}{error}
                  ? $r->{json}{error}{message}
                  : $result && $result->{isError} ? tool_text($result) : '';
    ok t_cmp($refused, qr/read/i, "read key cannot call $tool");
}
ok t_cmp(scalar $mock->requests, 0, 'refused calls send nothing');

# The refusals are tool calls and have their audit rows.
my ($read_key_id) = $read_key =~ /^itsm_([0-9a-f]+)_/;
my @refusals = grep { $_->{details}{tool} eq 'create_ticket' }
               audit_rows(action => 'mcp.tool_call', actor => $read_key_id);
ok t_cmp(scalar @refusals, 1, 'refused call audited');
ok t_cmp($refusals[0]{outcome}, 'failure', 'refusal audited as failure');

# A read-only tool works with the read key.
my $result = call_tool($read_key, 'get_ticket',
                       { integration => $it->{_id}, ticket_id => '2' });
ok t_cmp($result && $result->{structuredContent}{ticket}{id}, '2',
         'read key calls get_ticket');

# --- deactivated users ---------------------------------------------------

my $leaver = new_user(role => 'integrator');
my $leaver_key = api_key($leaver->{id}, 'write');
$res = api(PUT => "users/$leaver->{id}", token => $admin,
           json => { isActive => JSON::PP::false });
ok t_cmp($res->{status}, 200, 'user deactivated');
$res = mcp_post($ping, token => $leaver_key);
ok t_cmp($res->{status}, 401, 'key of deactivated user is 401');
$res = mcp_post($ping, token => $leaver->{token});
ok t_cmp($res->{status}, 401, 'jwt of deactivated user is 401');
