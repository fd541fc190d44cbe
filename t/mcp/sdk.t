# Licensed under the Apache License, Version 2.0; see LICENSE.
#
# The official MCP TypeScript SDK client (t/mcp/sdk-client.mjs) connects to
# /mcp with an API key, lists the tools and calls every tool against a
# Jira, a ServiceNow and a Zendesk integration, each on a mock service of
# its own. The SDK checks every structuredContent against the tool's
# outputSchema, so a mismatch fails the call here. Afterwards the mocks'
# request logs and ticket stores show what the tools did.
use strict;
use warnings FATAL => 'all';

use Apache::Test;
use Apache::TestUtil;
use JSON::PP ();
use ItsmTest;
use ItsmIntegration;
use ItsmMcp;
use ItsmMock;

my @TOOLS = qw(list_integrations get_integration check_integration_health
               create_ticket get_ticket update_ticket list_tickets
               assign_ticket add_comment search_knowledge_base);
my @SYSTEMS = qw(jira servicenow zendesk);

plan tests => 6 + @SYSTEMS * (@TOOLS + 4) + 33;

my $admin = admin_token();

# A plain user who manages the three integrations sees only those, so
# that system => 'zendesk' names exactly one.
my $owner = new_user(role => 'user');
my $key = api_key($owner->{id}, 'write');

my (%mock, %it);
for my $system (@SYSTEMS) {
    $mock{$system} = ticket_mock();
    $it{$system} = ticket_integration($admin, $system, $mock{$system},
                                      managers => [ $owner->{id} ]);
}

# The seeded tickets and users of ItsmMock that the calls work on.
my %seed = (
    jira => { get => 'ITSM-2', change => 'ITSM-1', user => 'alana@example.com',
              query => 'VPN' },
    servicenow => { get => 'INC0010002', change => 'INC0010001',
                    user => 'beth.anglin', query => 'VPN' },
    zendesk => { get => '2', change => '1', user => '7654321',
                 query => 'password' },
);

# Each system's calls, one per tool, in the order of @TOOLS. The
# integration goes by name for Jira, by id for ServiceNow and by system
# type for Zendesk.
my @calls;
for my $system (@SYSTEMS) {
    my $s = $seed{$system};
    my %target = $system eq 'jira' ? (integration => lc $it{jira}{name})
               : $system eq 'servicenow'
               ? (integration => $it{servicenow}{_id})
               : (system => 'zendesk');
    push @calls,
        { tool => 'list_integrations', arguments => { system => $system } },
        { tool => 'get_integration', arguments => {%target} },
        { tool => 'check_integration_health', arguments => {%target} },
        { tool => 'create_ticket', arguments => {
              %target, title => "SDK ticket on $system",
              description => 'Opened by the SDK test', priority => 'high' } },
        { tool => 'get_ticket', arguments => { %target,
                                                ticket_id => $s->{get} } },
        { tool => 'update_ticket', arguments => {
              %target, ticket_id => $s->{change}, status => 'in_progress',
              priority => 'critical' } },
        { tool => 'list_tickets', arguments => { %target, limit => 2 } },
        { tool => 'assign_ticket', arguments => {
              %target, ticket_id => $s->{change}, user_id => $s->{user} } },
        { tool => 'add_comment', arguments => {
              %target, ticket_id => $s->{change},
              comment => "SDK note on $system", internal => JSON::PP::true } },
        { tool => 'search_knowledge_base', arguments => {
              %target, query => $s->{query}, limit => 5 } };
}

my $out = sdk_run($key, \@calls);

ok t_cmp($out->{fatal}, undef, 'sdk connects');
ok t_cmp($out->{serverVersion}{name}, 'mod_itsm', 'sdk server name');
ok t_cmp($out->{protocolVersion}, '2025-11-25', 'sdk protocol version');
ok t_cmp(scalar @{ $out->{tools} || [] }, scalar @TOOLS, 'sdk tool count');
ok t_cmp(join(',', sort map { $_->{name} } @{ $out->{tools} || [] }),
         join(',', sort @TOOLS), 'sdk tool names');
ok t_cmp(scalar @{ $out->{results} || [] }, scalar @calls,
         'sdk result count');

# Every call succeeded, and its structured content passed the SDK's
# check against the output schema.
my @results = @{ $out->{results} || [] };
for my $i (0 .. $#calls) {
    my $r = $results[$i] // {};
    my $what = "$calls[$i]{tool} on " . $SYSTEMS[int($i / @TOOLS)];
    my $problem = !$r->{ok} ? "error: " . ($r->{error} // 'none')
                : $r->{result}{isError}
                ? 'isError: ' . tool_text($r->{result})
                : !ref $r->{result}{structuredContent}
                ? 'no structuredContent' : '';
    ok t_cmp($problem, '', $what);
}

# The tool result of a system's call of a tool.
my %index = map { ("$SYSTEMS[int($_ / @TOOLS)] $calls[$_]{tool}" => $_) }
            0 .. $#calls;

sub result_of {
    my ($system, $tool) = @_;
    return ($results[ $index{"$system $tool"} ] // {})->{result} // {};
}

sub structured { return result_of(@_)->{structuredContent} // {} }

for my $system (@SYSTEMS) {
    # The text content is the structured content as JSON.
    my $text = eval {
        JSON::PP->new->decode(tool_text(result_of($system, 'get_ticket')))
    };
    ok t_cmp(ref $text eq 'HASH' ? $text->{ticket}{id} : undef,
             structured($system, 'get_ticket')->{ticket}{id},
             "$system text is the JSON");

    # Every request reached the mock with valid credentials, as HTTP
    # Basic with the user name that the system expects.
    my @log = $mock{$system}->requests;
    my %user = (jira => 'agent@example.com', servicenow => 'ticket-user',
                zendesk => 'agent@example.com/token');
    ok t_cmp(scalar @log, qr/^[1-9]/, "$system mock got requests");
    ok t_cmp(scalar(grep { !$_->{authorized} } @log), 0,
             "$system requests authorized");
    ok t_cmp(scalar(grep { $_->{auth} ne 'basic'
                           || ($_->{user} // '') ne $user{$system} } @log),
             0, "$system requests use basic auth");
}

# What the tools returned.
my $listed = structured('jira', 'list_integrations');
ok t_cmp(join(',', map { $_->{id} } @{ $listed->{integrations} || [] }),
         $it{jira}{_id}, 'list shows managed jira');
ok t_cmp(structured('servicenow', 'get_integration')->{integration}{id},
         $it{servicenow}{_id}, 'get integration by id');
ok t_cmp(structured('zendesk', 'get_integration')->{integration}{id},
         $it{zendesk}{_id}, 'get integration by system');
ok t_cmp(structured('jira', 'check_integration_health')->{status},
         'healthy', 'jira health');
ok t_cmp(structured('jira', 'get_ticket')->{ticket}{key}, 'ITSM-2',
         'jira get key');
ok t_cmp(structured('servicenow', 'get_ticket')->{ticket}{key},
         'INC0010002', 'servicenow get key');
ok t_cmp(structured('zendesk', 'get_ticket')->{ticket}{id}, '2',
         'zendesk get id');
ok t_cmp(scalar @{ structured('servicenow', 'list_tickets')->{tickets}
                   || [] }, 2, 'list honours limit');
ok t_cmp(defined structured('servicenow', 'list_tickets')->{nextCursor}
         ? 1 : 0, 1, 'list has next cursor');
ok t_cmp(structured('jira', 'search_knowledge_base')->{articles}[0]{id},
         '65537', 'confluence article');
ok t_cmp(structured('servicenow', 'search_knowledge_base')
         ->{articles}[0]{title}, 'How to reset your VPN password',
         'servicenow article');
ok t_cmp(structured('zendesk', 'search_knowledge_base')->{articles}[0]{id},
         '360001', 'help center article');

# What the mocks' ticket stores show afterwards.
my $jira = $mock{jira}->tickets('jira');
my ($created) = grep { $_->{summary} eq 'SDK ticket on jira' }
                values %{ $jira->{issues} };
ok t_cmp($created && $created->{priority}, 'High', 'jira created priority');
my $changed = $jira->{issues}{'ITSM-1'};
ok t_cmp($changed->{status}, 'In Progress', 'jira status changed');
ok t_cmp($changed->{priority}, 'Highest', 'jira priority changed');
ok t_cmp($changed->{assignee}, '5b10ac8d82e05b22cc7d4ef5',
         'jira assignee by e-mail');
ok t_cmp(($changed->{comments}[-1] // {})->{internal}, 1,
         'jira comment internal');

my $snow = $mock{servicenow}->tickets('servicenow')->{tables};
my ($incident) = grep { $_->{short_description} eq 'SDK ticket on servicenow' }
                 values %{ $snow->{incident} };
ok t_cmp($incident && $incident->{priority}, 2, 'servicenow created priority');
my ($inc1) = grep { $_->{number} eq 'INC0010001' }
             values %{ $snow->{incident} };
ok t_cmp($inc1->{state}, '2', 'servicenow state changed');
ok t_cmp($inc1->{priority}, 1, 'servicenow priority changed');
ok t_cmp($inc1->{assigned_to}, '46d44a23a9fe19810012d100cca80666',
         'servicenow assignee by user name');
ok t_cmp(scalar(grep { $_->{element} eq 'work_notes'
                       && $_->{value} eq 'SDK note on servicenow' }
                values %{ $snow->{sys_journal_field} }), 1,
         'servicenow work note');

my $zendesk = $mock{zendesk}->tickets('zendesk')->{tickets};
my ($ticket) = grep { $_->{subject} eq 'SDK ticket on zendesk' }
               values %$zendesk;
ok t_cmp($ticket && $ticket->{priority}, 'high', 'zendesk created priority');
ok t_cmp($zendesk->{1}{status}, 'pending', 'zendesk status changed');
ok t_cmp($zendesk->{1}{priority}, 'urgent', 'zendesk priority changed');
ok t_cmp($zendesk->{1}{assignee_id}, 7654321, 'zendesk assignee');
ok t_cmp(($zendesk->{1}{comments}[-1] // {})->{public} ? 1 : 0, 0,
         'zendesk comment private');

# The SDK pages through tools/list on the host with three tools a page.
my $paged = sdk_run($key, [], module => 'itsm_mcp_paged');
ok t_cmp($paged->{fatal}, undef, 'sdk connects to paged host');
ok t_cmp(join(',', sort map { $_->{name} } @{ $paged->{tools} || [] }),
         join(',', sort @TOOLS), 'sdk collects every page');

# With a read-scoped key the SDK sees the read-only tools, and a write
# tool fails as a tool result.
my $read = sdk_run(api_key($owner->{id}, 'read'), [
    { tool => 'create_ticket', arguments => {
          integration => $it{zendesk}{_id}, title => 'From a read key' } },
    { tool => 'get_ticket', arguments => {
          integration => $it{zendesk}{_id}, ticket_id => '3' } } ]);
ok t_cmp(join(',', sort map { $_->{name} } @{ $read->{tools} || [] }),
         join(',', sort grep {
                 !/^(create|update|assign)_ticket$|^add_|^check_/ } @TOOLS),
         'sdk read key tools');
my ($refused, $allowed) = @{ $read->{results} || [] };
ok t_cmp(($refused // {})->{result}{isError}, JSON::PP::true,
         'sdk read key write is error');
ok t_cmp(tool_text(($refused // {})->{result}), qr/read-scoped/,
         'sdk read key write message');
ok t_cmp(($allowed // {})->{result}{structuredContent}{ticket}{id}, '3',
         'sdk read key reads');
