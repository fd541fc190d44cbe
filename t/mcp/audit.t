# Licensed under the Apache License, Version 2.0; see LICENSE.
#
# Every tool call, successful or not, has a row in the audit log (action
# mcp.tool_call): the caller (a user, or an API key with its user), the
# integration it worked on, the tool, the outcome and the arguments. Only
# the arguments that the tool's schema declares are kept, so a secret
# sent in any other argument never reaches the log; long values are cut
# at 200 bytes on a character boundary.
use strict;
use warnings FATAL => 'all';

use Apache::Test;
use Apache::TestUtil;
use ItsmTest;
use ItsmIntegration;
use ItsmMcp;

plan tests => 38;

my $admin = admin_token();
my $user = new_user(role => 'user');
my $mock = ticket_mock();
my $it = ticket_integration($admin, 'zendesk', $mock,
                            managers => [ $user->{id} ]);
my $id = $it->{_id};

sub rows_of {
    my ($actor) = @_;
    return audit_rows(action => 'mcp.tool_call', actor => $actor);
}

# --- a successful call with a user's token ------------------------------

call_tool($user->{token}, 'create_ticket',
          { integration => $it->{name}, title => 'Audited ticket',
            priority => 'low' });
my ($row) = rows_of($user->{id});
ok t_cmp($row->{actorType}, 'user', 'actor type user');
ok t_cmp($row->{actorId}, $user->{id}, 'actor is the user');
ok t_cmp($row->{targetType}, 'integration', 'target type');
ok t_cmp($row->{targetId}, $id, 'target is the integration');
ok t_cmp($row->{outcome}, 'success', 'success outcome');
ok t_cmp($row->{details}{tool}, 'create_ticket', 'tool named');
ok t_cmp($row->{details}{arguments}{title}, 'Audited ticket',
         'arguments kept');
ok t_cmp($row->{details}{arguments}{integration}, $it->{name},
         'integration argument kept');

# --- calls with an API key ------------------------------------------------

my $key = api_key($user->{id}, 'write');
my ($key_id) = $key =~ /^itsm_([0-9a-f]+)_/;
call_tool($key, 'get_ticket', { integration => $id, ticket_id => '999' });
($row) = rows_of($key_id);
ok t_cmp($row->{actorType}, 'api_key', 'actor type api key');
ok t_cmp($row->{details}{userId}, $user->{id}, 'key user recorded');
ok t_cmp($row->{outcome}, 'failure', 'upstream failure outcome');
ok t_cmp($row->{details}{tool}, 'get_ticket', 'failed tool named');
ok t_cmp($row->{targetId}, $id, 'failed call target');

# --- every call has its row --------------------------------------------

my $before = scalar rows_of($key_id);
my @calls = (
    [ list_integrations => {} ],
    [ get_integration => { integration => $id } ],
    [ list_tickets => { integration => $id, limit => 1 } ],
    [ search_knowledge_base => { integration => $id, query => 'refund' } ],
    [ add_comment => { integration => $id, ticket_id => '2',
                       comment => 'Audited comment' } ],
    [ create_ticket => { integration => $id } ],
);
call_tool($key, @$_) for @calls;
my @rows = rows_of($key_id);
ok t_cmp(scalar @rows - $before, scalar @calls, 'one row per call');
ok t_cmp(join(',', map { $_->{details}{tool} }
              reverse @rows[0 .. $#calls]),
         join(',', map { $_->[0] } @calls), 'rows name the tools');
ok t_cmp(join(',', map { $_->{outcome} } reverse @rows[0 .. $#calls]),
         'success,success,success,success,success,failure',
         'rows have outcomes');
ok t_cmp($rows[$#calls]{targetId}, undef,
         'registry list has no target');

# --- no secrets in the arguments -------------------------------------------

my $secret = random_secret('leaked');
my ($result) = call_tool($key, 'create_ticket',
                         { integration => $id, title => 'With a secret',
                           password => $secret });
ok t_cmp(tool_text($result), qr/Unknown argument 'password'/,
         'secret argument refused');
($row) = rows_of($key_id);
ok t_cmp($row->{details}{tool}, 'create_ticket', 'refused call audited');
ok t_cmp($row->{outcome}, 'failure', 'refused call outcome');
ok t_cmp(count_secrets(json_encode($row), $secret), 0,
         'secret not in audit row');
ok t_cmp(join(',', sort keys %{ $row->{details}{arguments} || {} }),
         'integration,title', 'declared arguments kept');

# The integration is the credentials' owner: they are never arguments,
# and the audit log has none of them anywhere.
my @all = audit_rows(action => 'mcp.tool_call', target => $id);
ok t_cmp(count_secrets(json_encode(\@all), secret_forms($mock)), 0,
         'no credentials in audit log');
ok t_cmp(scalar @all, qr/^[1-9]/, 'credentials check saw rows');

# --- long values ------------------------------------------------------------

my $ascii = 'd' x 300;
call_tool($key, 'create_ticket', { integration => $id, title => 'Long',
                                   description => $ascii });
($row) = rows_of($key_id);
ok t_cmp(length($row->{details}{arguments}{description} // ''), 200,
         'long value cut to 200');

# The cut at 200 bytes would split the first two-byte character here.
my $mixed = ('a' x 199) . ("\x{e9}" x 10);
call_tool($key, 'create_ticket', { integration => $id, title => 'Mixed',
                                   description => $mixed });
($row) = rows_of($key_id);
ok t_cmp($row->{details}{arguments}{description}, 'a' x 199,
         'cut keeps whole characters');
ok t_cmp($row->{details}{arguments}{title}, 'Mixed',
         'cut value row kept');

# --- failed lookups name no integration -----------------------------------

my $second = ticket_integration($admin, 'zendesk', $mock,
                                managers => [ $user->{id} ]);
($result) = call_tool($key, 'list_tickets', { system => 'zendesk' });
($row) = rows_of($key_id);
ok t_cmp(tool_text($result), qr/2 zendesk integrations/,
         'lookup is ambiguous');
ok t_cmp($row->{outcome}, 'failure', 'ambiguous lookup outcome');
ok t_cmp($row->{targetId}, undef, 'ambiguous lookup has no target');
ok t_cmp($row->{details}{arguments}{system}, 'zendesk',
         'ambiguous lookup arguments');

my $foreign = ticket_integration($admin, 'servicenow', $mock);
call_tool($key, 'get_integration', { integration => $foreign->{_id} });
($row) = rows_of($key_id);
ok t_cmp($row->{outcome}, 'failure', 'no access outcome');
ok t_cmp($row->{targetId}, undef, 'no access has no target');

# --- inactive integrations -------------------------------------------------

api(PUT => "integration/$second->{_id}", token => $admin,
    json => { isActive => JSON::PP::false });
call_tool($key, 'get_ticket', { integration => $second->{_id},
                                ticket_id => '1' });
($row) = rows_of($key_id);
ok t_cmp($row->{outcome}, 'failure', 'inactive refusal outcome');
ok t_cmp($row->{targetId}, $second->{_id}, 'inactive refusal target');

# --- the log line ------------------------------------------------------------

my $log = error_log_text();
ok t_cmp($log, qr/MCP tool get_ticket by \Q$user->{id}\E on \Q$second->{_id}\E: failed/,
         'error log has the call');
ok t_cmp(count_secrets($log, $secret), 0, 'secret not in error log');
ok t_cmp(count_secrets($log, secret_forms($mock)), 0,
         'credentials not in error log');
