# Licensed under the Apache License, Version 2.0; see LICENSE.
#
# Who may use the ticket endpoints of an integration: admins and
# integrators always, users who manage it; other users get 403 and
# callers without a token 401, before any request to the service.
# Read-scoped API keys may read but not write (403). Every write, created
# or failed, has an audit row (ticket.create, ticket.update,
# ticket.comment) with the caller, the integration, the outcome and the
# arguments; reads have none.
use strict;
use warnings FATAL => 'all';

use Apache::Test;
use Apache::TestUtil;
use ItsmTest;
use ItsmIntegration;
use ItsmMcp;

plan tests => 87;

my $admin = admin_token();
my $manager = new_user(role => 'user');
my %token = (
    admin      => $admin,
    integrator => new_user(role => 'integrator')->{token},
    manager    => $manager->{token},
    stranger   => new_user(role => 'user')->{token},
    anonymous  => undef,
);
my %allowed = (admin => 1, integrator => 1, manager => 1);

my $mock = ticket_mock();
my $it = ticket_integration($admin, 'zendesk', $mock,
                            managers => [ $manager->{id} ]);
my $base = "integration/$it->{_id}";

my @endpoints = (
    [ 'list', GET => "$base/tickets", undef, 200 ],
    [ 'create', POST => "$base/tickets", { title => 'Access test' }, 201 ],
    [ 'get', GET => "$base/tickets/2", undef, 200 ],
    [ 'update', PUT => "$base/tickets/2", { priority => 'low' }, 200 ],
    [ 'comment', POST => "$base/tickets/2/comments", { comment => 'Hi' },
      201 ],
    [ 'kb', GET => "$base/knowledge-base?query=refund", undef, 200 ],
);

# --- roles -------------------------------------------------------------------

for my $role (qw(stranger anonymous integrator manager admin)) {
    $mock->clear_requests;
    for my $endpoint (@endpoints) {
        my ($what, $method, $path, $body, $status) = @$endpoint;
        my $res = api($method => $path, token => $token{$role},
                      ($body ? (json => $body) : ()));
        my $expected = $allowed{$role} ? $status
                     : $role eq 'anonymous' ? 401 : 403;
        ok t_cmp($res->{status}, $expected, "$what by $role");
    }
    next if $allowed{$role};
    ok t_cmp(scalar $mock->requests, 0, "$role sends nothing");
}

# --- read-scoped API keys ----------------------------------------------------

my $read_key = api_key($manager->{id}, 'read');
my ($read_key_id) = $read_key =~ /^itsm_([0-9a-f]+)_/;
$mock->clear_requests;
for my $endpoint (@endpoints) {
    my ($what, $method, $path, $body, $status) = @$endpoint;
    my $res = api($method => $path, token => $read_key,
                  ($body ? (json => $body) : ()));
    ok t_cmp($res->{status}, $method eq 'GET' ? 200 : 403,
             "$what with read key");
}
ok t_cmp(scalar(grep { $_->{method} ne 'GET' } $mock->requests), 0,
         'read key writes nothing');
ok t_cmp(scalar audit_rows(actor => $read_key_id), 0,
         'read key has no audit rows');

my $res = api(POST => 'auth/api-key', json => { apiKey => $read_key });
$res = api(POST => "$base/tickets", token => $res->{json}{token},
           json => { title => 'From a read jwt' });
ok t_cmp($res->{status}, 403, 'read jwt cannot create');

my $write_key = api_key($manager->{id}, 'write');
my ($write_key_id) = $write_key =~ /^itsm_([0-9a-f]+)_/;
$res = api(POST => "$base/tickets", token => $write_key,
           json => { title => 'From a write key' });
ok t_cmp($res->{status}, 201, 'write key creates');

# --- audit rows of writes -------------------------------------------------

my $auditor = new_user(role => 'user');
my $audited = ticket_integration($admin, 'jira', ticket_mock(),
                                 managers => [ $auditor->{id} ]);
my $jira = "integration/$audited->{_id}";
my @writes = (
    [ 'ticket.create', POST => "$jira/tickets",
      { title => 'Audited', priority => 'high' }, 'success' ],
    [ 'ticket.update', PUT => "$jira/tickets/ITSM-1",
      { status => 'resolved', comment => 'Done' }, 'success' ],
    [ 'ticket.update', PUT => "$jira/tickets/ITSM-2",
      { assignee => 'alana@example.com' }, 'success' ],
    [ 'ticket.comment', POST => "$jira/tickets/ITSM-1/comments",
      { comment => 'Audited note', internal => JSON::PP::true }, 'success' ],
    [ 'ticket.update', PUT => "$jira/tickets/ITSM-404",
      { priority => 'low' }, 'failure' ],
    [ 'ticket.comment', POST => "$jira/tickets/ITSM-404/comments",
      { comment => 'Lost' }, 'failure' ],
    # The assignment fails before the status change is tried.
    [ 'ticket.update', PUT => "$jira/tickets/ITSM-2",
      { status => 'closed', assignee => 'nobody@example.com' }, 'failure' ],
);
for my $write (@writes) {
    my ($action, $method, $path, $body, $outcome) = @$write;
    api($method => $path, token => $auditor->{token}, json => $body);
    my ($row) = audit_rows(actor => $auditor->{id});
    my $what = "$action " . ($outcome eq 'success' ? 'done' : 'failed');
    ok t_cmp($row->{action}, $action, "$what action");
    ok t_cmp($row->{outcome}, $outcome, "$what outcome");
    ok t_cmp($row->{targetId}, $audited->{_id}, "$what target");
    ok t_cmp($row->{actorType}, 'user', "$what actor");
    my ($key) = grep { $_ ne 'internal' } sort keys %$body;
    my $name = $key eq 'assignee' ? 'user_id' : $key;
    ok t_cmp($row->{details}{arguments}{$name}, $body->{$key},
             "$what arguments");
    ok t_cmp($outcome eq 'failure' ? length($row->{details}{error} // '')
                                   : 1, qr/^[1-9]/, "$what error text");
}

# Reads leave no audit row.
my $rows = scalar audit_rows(actor => $auditor->{id});
api(GET => "$jira/tickets", token => $auditor->{token});
api(GET => "$jira/tickets/ITSM-1", token => $auditor->{token});
api(GET => "$jira/knowledge-base?query=VPN", token => $auditor->{token});
ok t_cmp(scalar audit_rows(actor => $auditor->{id}), $rows,
         'reads are not audited');

# A write with a key names the key and its user.
my ($row) = audit_rows(actor => $write_key_id);
ok t_cmp($row->{action}, 'ticket.create', 'key write audited');
ok t_cmp($row->{details}{userId}, $manager->{id}, 'key write names user');
