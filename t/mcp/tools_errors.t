# Licensed under the Apache License, Version 2.0; see LICENSE.
#
# Failed tool calls are results with isError and a text that tells the
# agent what to fix: arguments that fail the input schema (no request
# reaches the service), and the service's own failures with its error
# message, never a credential. A 429 with Retry-After is reported with
# the delay and is not retried: the mock sees exactly one request.
use strict;
use warnings FATAL => 'all';

use Apache::Test;
use Apache::TestUtil;
use ItsmTest;
use ItsmIntegration;
use ItsmMcp;

plan tests => 90;

my $admin = admin_token();
my $user = new_user(role => 'user');
my $token = $user->{token};
my %own = (managers => [ $user->{id} ]);

my $jira_mock = ticket_mock();
my $zendesk_mock = ticket_mock();
my $snow_mock = ticket_mock();
my $jira = ticket_integration($admin, 'jira', $jira_mock, %own);
my $zendesk = ticket_integration($admin, 'zendesk', $zendesk_mock, %own);
my $snow = ticket_integration($admin, 'servicenow', $snow_mock, %own);
my @secrets = map { secret_forms($_) } $jira_mock, $zendesk_mock, $snow_mock;

# Every tool result of this file, searched for credentials at the end.
my @bodies;

sub tool {
    my ($name, $args, $as) = @_;
    my ($result, $res) = call_tool($as // $token, $name, $args);
    push @bodies, $res->{body};
    return $result // {};
}

# --- arguments that fail the input schema -------------------------------

my $z = $zendesk->{_id};
my @invalid = (
    [ 'missing title', create_ticket => { integration => $z },
      qr/Missing required argument 'title'/ ],
    [ 'unknown argument', create_ticket => {
          integration => $z, title => 'T', severity => 'sev1' },
      qr/Unknown argument 'severity'/ ],
    [ 'empty title', create_ticket => { integration => $z, title => '' },
      qr/'title' must not be empty/ ],
    [ 'long title', create_ticket => {
          integration => $z, title => 'x' x 256 },
      qr/'title' must be at most 255 characters/ ],
    [ 'priority not in enum', create_ticket => {
          integration => $z, title => 'T', priority => 'urgent' },
      qr/'priority' must be one of: low, medium, high, critical/ ],
    [ 'numeric title', create_ticket => { integration => $z, title => 5 },
      qr/'title' must be a string, not number/ ],
    [ 'limit as string', list_tickets => { integration => $z, limit => '5' },
      qr/'limit' must be an integer, not string/ ],
    [ 'limit too large', list_tickets => { integration => $z, limit => 101 },
      qr/'limit' must be from 1 to 100/ ],
    [ 'limit zero', list_tickets => { integration => $z, limit => 0 },
      qr/'limit' must be from 1 to 100/ ],
    [ 'status not in enum', update_ticket => {
          integration => $z, ticket_id => '1', status => 'done' },
      qr/'status' must be one of: open, in_progress, resolved, closed/ ],
    [ 'internal as string', add_comment => {
          integration => $z, ticket_id => '1', comment => 'c',
          internal => 'yes' },
      qr/'internal' must be a boolean/ ],
    [ 'update without change', update_ticket => {
          integration => $z, ticket_id => '1' },
      qr/Nothing to update: give a status, a priority or a comment/ ],
    [ 'missing user', assign_ticket => { integration => $z, ticket_id => '1' },
      qr/Missing required argument 'user_id'/ ],
    [ 'unknown system', list_tickets => { system => 'remedy' },
      qr/'system' must be one of: jira, servicenow/ ],
    [ 'arguments not object', get_ticket => [ 'x' ],
      qr/Arguments must be a JSON object/ ],
);
$zendesk_mock->clear_requests;
for my $case (@invalid) {
    my ($what, $name, $args, $message) = @$case;
    my $result = tool($name, $args);
    ok t_cmp($result->{isError}, JSON::PP::true, "$what is error");
    ok t_cmp(tool_text($result), $message, "$what message");
    ok t_cmp(exists $result->{structuredContent} ? 1 : 0, 0,
             "$what has no structured content");
}
ok t_cmp(scalar $zendesk_mock->requests, 0, 'invalid calls send nothing');

# maxLength counts characters: 200 two-byte characters fit 255.
my $accented = "\x{e9}" x 200;
my $result = tool(create_ticket => { integration => $z, title => $accented });
ok t_cmp(tool_text($result), qr/"ticket"/, 'multibyte title accepted');
my $tickets = $zendesk_mock->tickets('zendesk')->{tickets};
ok t_cmp(scalar(grep { ($_->{subject} // '') eq $accented }
                values %$tickets), 1, 'multibyte title created');

# --- the service's own errors ---------------------------------------------

my @upstream = (
    [ 'jira unknown issue', get_ticket => {
          integration => $jira->{_id}, ticket_id => 'ITSM-999' },
      qr/Issue does not exist or you do not have permission to see it/ ],
    [ 'servicenow unknown incident', get_ticket => {
          integration => $snow->{_id}, ticket_id => 'INC0099999' },
      qr/INC0099999/ ],
    [ 'zendesk unknown ticket', get_ticket => {
          integration => $z, ticket_id => '999' },
      qr/not found/i ],
    [ 'zendesk invalid assignee', assign_ticket => {
          integration => $z, ticket_id => '1', user_id => '555' },
      qr/Assignee is invalid/ ],
    [ 'jira unknown account', assign_ticket => {
          integration => $jira->{_id}, ticket_id => 'ITSM-1',
          user_id => 'nobody@example.com' },
      qr/nobody\@example\.com/ ],
    [ 'zendesk closed ticket', update_ticket => {
          integration => $z, ticket_id => '4', status => 'open' },
      qr/closed prevents ticket update/ ],
);
for my $case (@upstream) {
    my ($what, $name, $args, $message) = @$case;
    my $result = tool($name, $args);
    ok t_cmp($result->{isError}, JSON::PP::true, "$what is error");
    ok t_cmp(tool_text($result), $message, "$what message");
    ok t_cmp(tool_text($result), qr/^\Q$name\E failed on /,
             "$what names the tool");
}

# Options that an operation needs.
my $bare = ticket_integration($admin, 'jira', $jira_mock, %own,
                              options => {});
$result = tool(create_ticket => { integration => $bare->{_id},
                                  title => 'No project' });
ok t_cmp(tool_text($result), qr/projectKey/, 'missing projectKey named');
$result = tool(search_knowledge_base => { integration => $bare->{_id},
                                          query => 'VPN' });
ok t_cmp(tool_text($result), qr/confluence/, 'missing confluence named');

# Rejected credentials: the text says so and holds no credential.
my $wrong = ticket_integration($admin, 'zendesk', $zendesk_mock, %own,
                               auth => { type => 'token', credentials => {
                                   email => 'agent@example.com',
                                   apiToken => random_secret('wrong') } });
$result = tool(get_ticket => { integration => $wrong->{_id},
                               ticket_id => '1' });
ok t_cmp(tool_text($result), qr/rejected the credentials/,
         'rejected credentials message');
ok t_cmp(tool_text($result), qr/administrator/, 'rejected credentials advice');
ok t_cmp(tool_text($result), qr/Couldn't authenticate you/,
         'rejected credentials upstream text');

# A service error text that repeats a credential has it masked.
my $echo = ticket_integration($admin, 'jira', $jira_mock, %own, options => {
    projectKey => $jira_mock->credentials->{api_token} });
$result = tool(list_tickets => { integration => $echo->{_id} });
ok t_cmp(tool_text($result), qr/The value '\[redacted\]' does not exist/,
         'echoed credential is masked');

# A service that is down, or answers with HTML.
$snow_mock->set_mode('down');
$result = tool(list_tickets => { integration => $snow->{_id} });
ok t_cmp(tool_text($result), qr/HTTP 503.*try again later/,
         'service down message');
$snow_mock->set_mode('hibernate');
$result = tool(list_tickets => { integration => $snow->{_id} });
ok t_cmp(tool_text($result), qr/not JSON.*text\/html/,
         'html answer message');
$snow_mock->set_mode('close');
$result = tool(list_tickets => { integration => $snow->{_id} });
ok t_cmp(tool_text($result), qr/Request to ServiceNow failed/,
         'closed connection message');
$snow_mock->set_mode('up');

# --- rate limits -----------------------------------------------------------

for my $case ([ 'create', create_ticket => { title => 'Rate limited' } ],
              [ 'list', list_tickets => {} ],
              [ 'update', update_ticket => { ticket_id => 'ITSM-1',
                                             status => 'resolved' } ]) {
    my ($what, $name, $args) = @$case;
    $jira_mock->set_mode('ratelimit', retry_after => 42);
    $jira_mock->clear_requests;
    my $result = tool($name, { integration => $jira->{_id}, %$args });
    $jira_mock->set_mode('up');
    ok t_cmp($result->{isError}, JSON::PP::true, "429 on $what is error");
    ok t_cmp(tool_text($result), qr/HTTP 429/, "429 on $what names status");
    ok t_cmp(tool_text($result), qr/retry after 42 seconds/,
             "429 on $what gives delay");
    ok t_cmp(scalar $jira_mock->requests, 1, "429 on $what is not retried");
}
my $issues = $jira_mock->tickets('jira')->{issues};
ok t_cmp(scalar(grep { $_->{summary} eq 'Rate limited' } values %$issues),
         0, '429 created nothing');

ok t_cmp(count_secrets(join("\n", @bodies), @secrets), 0,
         'no credentials in any result');
ok t_cmp(scalar @bodies, qr/^[1-9]\d+$/, 'secret check saw results');
