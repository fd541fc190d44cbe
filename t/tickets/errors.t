# Licensed under the Apache License, Version 2.0; see LICENSE.
#
# Error statuses of the ticket endpoints: 404 for unknown tickets and
# integrations, 400 for invalid input (checked before any request to the
# service) and for input the service rejects, 409 for inactive
# integrations, 502 when the service rejects the stored credentials or
# fails, and 429 with the service's Retry-After, sent once and not
# retried. Every error is the API's envelope {"success":false,
# "message":...} and holds no credential.
use strict;
use warnings FATAL => 'all';

use Apache::Test;
use Apache::TestUtil;
use ItsmTest;
use ItsmIntegration;
use ItsmMcp;

plan tests => 140;

my $admin = admin_token();
my $user = new_user(role => 'user');
my $token = $user->{token};
my %own = (managers => [ $user->{id} ]);

my $mock = ticket_mock();
my $jira_mock = ticket_mock();
my $zendesk = ticket_integration($admin, 'zendesk', $mock, %own);
my $jira = ticket_integration($admin, 'jira', $jira_mock, %own);
my $base = "integration/$zendesk->{_id}";
my @secrets = (secret_forms($mock), secret_forms($jira_mock));

my @bodies;

sub call {
    my $res = api(@_, token => $token);
    push @bodies, $res->{body};
    return $res;
}

# Checks status, envelope and message of an error response; 4 assertions.
sub error_is {
    my ($res, $status, $message, $what) = @_;
    ok t_cmp($res->{status}, $status, "$what status");
    ok t_cmp($res->{type}, qr{^application/json\b}, "$what is json");
    ok t_cmp($res->{json}{success}, JSON::PP::false, "$what envelope");
    ok t_cmp($res->{json}{message}, $message, "$what message");
}

# --- 404 --------------------------------------------------------------------

error_is(call(GET => "$base/tickets/999"), 404, qr/not found/i,
         'unknown ticket');
error_is(call(PUT => "$base/tickets/999", json => { status => 'open' }), 404,
         qr/not found/i, 'update unknown ticket');
error_is(call(POST => "$base/tickets/999/comments",
              json => { comment => 'Hello' }), 404, qr/not found/i,
         'comment on unknown ticket');
error_is(call(GET => "integration/jira-ITSM-999/tickets"), 404,
         'Integration not found', 'malformed integration id');
error_is(call(GET => 'integration/aaaaaaaaaaaaaaaaaaaaaaaa/tickets/1'), 404,
         'Integration not found', 'unknown integration');

# --- 400, before any request to the service ------------------------------

$mock->clear_requests;
for my $case (
    [ 'no title', POST => 'tickets', { description => 'd' },
      'title is required' ],
    [ 'empty title', POST => 'tickets', { title => '' },
      qr/title must be a non-empty string/ ],
    [ 'numeric title', POST => 'tickets', { title => 5 },
      qr/title must be a non-empty string/ ],
    [ 'unknown field', POST => 'tickets', { title => 'T', severity => 1 },
      'Unknown field: severity' ],
    [ 'bad priority', POST => 'tickets', { title => 'T', priority => 'p1' },
      qr/priority must be one of low, medium, high, critical/ ],
    [ 'empty update', PUT => 'tickets/1', {},
      qr/Send at least one of status, priority, comment, assignee/ ],
    [ 'bad status', PUT => 'tickets/1', { status => 'done' },
      qr/status must be one of open, in_progress, resolved, closed/ ],
    [ 'no comment', POST => 'tickets/1/comments', { internal => JSON::PP::true },
      'comment is required' ],
    [ 'internal not boolean', POST => 'tickets/1/comments',
      { comment => 'c', internal => 'yes' }, 'internal must be a boolean' ],
) {
    my ($what, $method, $path, $body, $message) = @$case;
    error_is(call($method => "$base/$path", json => $body), 400, $message,
             $what);
}
for my $case ([ 'limit zero', 'tickets?limit=0', qr/limit must be/ ],
              [ 'limit too large', 'tickets?limit=101', qr/from 1 to 100/ ],
              [ 'limit not a number', 'tickets?limit=ten', qr/limit/ ],
              [ 'status filter', 'tickets?status=done', qr/status must be/ ],
              [ 'no query', 'knowledge-base', 'query is required' ],
              [ 'empty query', 'knowledge-base?query=', 'query is required' ],
              [ 'kb limit', 'knowledge-base?query=x&limit=0', qr/limit/ ]) {
    my ($what, $path, $message) = @$case;
    error_is(call(GET => "$base/$path"), 400, $message, $what);
}
my $res = call(POST => "$base/tickets", body => '{"title":', type =>
               'application/json');
ok t_cmp($res->{status}, 400, 'malformed body is 400');
ok t_cmp(scalar $mock->requests, 0, 'invalid input sends nothing');

# Input that the service rejects.
error_is(call(PUT => "$base/tickets/1", json => { assignee => '555' }), 400,
         qr/Assignee is invalid/, 'service rejects assignee');
my $bare = ticket_integration($admin, 'jira', $jira_mock, %own,
                              options => {});
error_is(call(POST => "integration/$bare->{_id}/tickets",
              json => { title => 'No project' }), 400, qr/projectKey/,
         'missing jira option');

# --- 409 for inactive integrations ----------------------------------------

my $inactive = ticket_integration($admin, 'zendesk', $mock, %own,
                                  isActive => JSON::PP::false);
my $off = "integration/$inactive->{_id}";
$mock->clear_requests;
for my $case ([ 'list', GET => "$off/tickets" ],
              [ 'create', POST => "$off/tickets", { title => 'T' } ],
              [ 'get', GET => "$off/tickets/1" ],
              [ 'update', PUT => "$off/tickets/1", { status => 'open' } ],
              [ 'comment', POST => "$off/tickets/1/comments",
                { comment => 'c' } ],
              [ 'kb', GET => "$off/knowledge-base?query=refund" ]) {
    my ($what, $method, $path, $body) = @$case;
    $res = call($method => $path, ($body ? (json => $body) : ()));
    ok t_cmp($res->{status}, 409, "inactive $what is 409");
    ok t_cmp($res->{json}{message}, qr/inactive/, "inactive $what message");
}
ok t_cmp(scalar $mock->requests, 0, 'inactive sends nothing');

# --- 502 ---------------------------------------------------------------------

my $wrong = ticket_integration($admin, 'zendesk', $mock, %own,
                               auth => { type => 'token', credentials => {
                                   email => 'agent@example.com',
                                   apiToken => random_secret('wrong') } });
error_is(call(GET => "integration/$wrong->{_id}/tickets/1"), 502,
         qr/rejected the credentials/, 'rejected credentials');
$res = call(POST => "integration/$wrong->{_id}/tickets",
            json => { title => 'Never created' });
ok t_cmp($res->{status}, 502, 'rejected credentials on create');

$mock->set_mode('down');
error_is(call(GET => "$base/tickets"), 502, qr/HTTP 503/, 'service down');
$mock->set_mode('unauthorized');
error_is(call(GET => "$base/tickets/1"), 502, qr/HTTP 401/,
         'service rejects credentials later');
$mock->set_mode('up');

# --- 429 -----------------------------------------------------------------------

for my $case ([ 'list', GET => "$base/tickets" ],
              [ 'create', POST => "$base/tickets", { title => 'Limited' } ],
              [ 'kb', GET => "$base/knowledge-base?query=refund" ]) {
    my ($what, $method, $path, $body) = @$case;
    $mock->set_mode('ratelimit', retry_after => 17);
    $mock->clear_requests;
    $res = call($method => $path, ($body ? (json => $body) : ()));
    $mock->set_mode('up');
    error_is($res, 429, qr/retry after 17 seconds/, "429 on $what");
    ok t_cmp(scalar $res->{headers}->header('Retry-After'), 17,
             "429 on $what Retry-After");
    ok t_cmp(scalar $mock->requests, 1, "429 on $what is not retried");
}
my $tickets = $mock->tickets('zendesk')->{tickets};
ok t_cmp(scalar(grep { $_->{subject} eq 'Limited' } values %$tickets), 0,
         '429 created nothing');

ok t_cmp(count_secrets(join("\n", @bodies), @secrets), 0,
         'no credentials in any response');
