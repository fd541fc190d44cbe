# Licensed under the Apache License, Version 2.0; see LICENSE.
#
# The registry side of the tools: which integrations list_integrations
# shows to each role, how a call names its integration (id, name in any
# case, or a system type that must match exactly one), what
# get_integration reveals (never credentials), check_integration_health,
# and the refusal of ticket tools on inactive integrations.
use strict;
use warnings FATAL => 'all';

use Apache::Test;
use Apache::TestUtil;
use ItsmTest;
use ItsmIntegration;
use ItsmMcp;

plan tests => 56;

my $admin = admin_token();
my $integrator = new_user(role => 'integrator');
my $manager = new_user(role => 'user');
my $stranger = new_user(role => 'user');

my $mock = ticket_mock();
my $other_mock = ticket_mock();
my @secrets = (secret_forms($mock), secret_forms($other_mock));

# Every tool result of this file, searched for credentials at the end.
my @bodies;

sub tool {
    my ($token, $name, $args) = @_;
    my ($result, $res) = call_tool($token, $name, $args);
    push @bodies, $res->{body};
    return $result // {};
}

sub ids_of {
    my ($result) = @_;
    my $list = ($result->{structuredContent} // {})->{integrations} || [];
    return join ',', sort map { $_->{id} } @$list;
}

my $unmanaged = ticket_integration($admin, 'jira', $other_mock);
my $managed = ticket_integration($admin, 'jira', $mock,
                                 name => unique_name('Mixed Case Jira'),
                                 managers => [ $manager->{id} ]);
my $inactive = ticket_integration($admin, 'zendesk', $mock,
                                  isActive => JSON::PP::false,
                                  managers => [ $manager->{id} ]);
my ($u, $m, $i) = map { $_->{_id} } $unmanaged, $managed, $inactive;

# --- list_integrations -------------------------------------------------

my $result = tool($manager->{token}, 'list_integrations', {});
ok t_cmp(ids_of($result), join(',', sort $m, $i), 'user lists managed');
ok t_cmp($result->{structuredContent}{count}, 2, 'user count');
ok t_cmp(ids_of(tool($stranger->{token}, 'list_integrations', {})), '',
         'stranger lists none');
for my $who ([ 'integrator', $integrator->{token} ], [ 'admin', $admin ]) {
    my ($role, $token) = @$who;
    my $ids = ids_of(tool($token, 'list_integrations', {}));
    ok t_cmp(scalar(grep { index($ids, $_) >= 0 } $u, $m, $i), 3,
             "$role lists all");
}
ok t_cmp(ids_of(tool($manager->{token}, 'list_integrations',
                     { system => 'zendesk' })), $i, 'list by system');

# A user also sees the integrations they created, as an integrator
# before an admin made them a plain user.
my $creator = new_user(role => 'integrator');
my $created = ticket_integration($creator->{token}, 'servicenow', $mock);
my $res = api(PUT => "users/$creator->{id}", token => $admin,
              json => { role => 'user' });
ok t_cmp($res->{status}, 200, 'creator demoted to user');
ok t_cmp(ids_of(tool(api_key($creator->{id}, 'read'), 'list_integrations',
                     {})), $created->{_id}, 'user lists created');
ok t_cmp(ids_of(tool($manager->{token}, 'list_integrations',
                     { status => 'inactive' })), $i, 'list by status');

my ($summary) = grep { $_->{id} eq $m }
    @{ $result->{structuredContent}{integrations} || [] };
ok t_cmp($summary->{name}, $managed->{name}, 'summary name');
ok t_cmp($summary->{type}, 'jira', 'summary type');
ok t_cmp($summary->{isActive}, JSON::PP::true, 'summary active');
ok t_cmp(ref $summary->{health}, 'HASH', 'summary health');

# --- naming the integration ------------------------------------------------

for my $case ([ 'id', $m ], [ 'name', $managed->{name} ],
              [ 'upper-case name', uc $managed->{name} ],
              [ 'lower-case name', lc $managed->{name} ]) {
    my ($how, $value) = @$case;
    $result = tool($manager->{token}, 'get_integration',
                   { integration => $value });
    ok t_cmp(($result->{structuredContent} // {})->{integration}{id}, $m,
             "integration by $how");
}
$result = tool($manager->{token}, 'get_integration', { system => 'jira' });
ok t_cmp(($result->{structuredContent} // {})->{integration}{id}, $m,
         'integration by unique system');

# Two Jira integrations for the admin: the error names both.
$result = tool($admin, 'get_integration', { system => 'jira' });
ok t_cmp($result->{isError}, JSON::PP::true, 'ambiguous system is error');
my $text = tool_text($result);
ok t_cmp(has_text($text, $u), 1, 'ambiguity lists first candidate');
ok t_cmp(has_text($text, $m), 1, 'ambiguity lists second candidate');
ok t_cmp($text, qr/'integration'/, 'ambiguity says what to pass');

$result = tool($manager->{token}, 'get_integration',
               { system => 'servicenow' });
ok t_cmp(tool_text($result), qr/No servicenow integration/,
         'system without integration');
$result = tool($manager->{token}, 'get_integration', {});
ok t_cmp(tool_text($result), qr/'integration'.*'system'/,
         'neither integration nor system');

# Another user's integration looks exactly like a missing one.
my $denied = tool_text(tool($stranger->{token}, 'get_integration',
                            { integration => $m }));
my $missing = tool_text(tool($stranger->{token}, 'get_integration',
                             { integration => 'aaaaaaaaaaaaaaaaaaaaaaaa' }));
ok t_cmp($denied, qr/No integration named/, 'no access is not found');
ok t_cmp($denied =~ s/$m/X/r, $missing =~ s/a{24}/X/r,
         'no access reveals nothing');
$result = tool($manager->{token}, 'get_integration', { integration => $u });
ok t_cmp($result->{isError}, JSON::PP::true, 'unmanaged is refused');

# --- get_integration --------------------------------------------------------

$result = tool($manager->{token}, 'get_integration', { integration => $m });
my $shown = ($result->{structuredContent} // {})->{integration} // {};
ok t_cmp($shown->{baseUrl}, $mock->url, 'shows base url');
ok t_cmp($shown->{auth}{type}, 'token', 'shows auth type');
ok t_cmp($shown->{auth}{hasCredentials}, JSON::PP::true,
         'shows that credentials exist');
ok t_cmp(join(',', sort keys %{ $shown->{auth} || {} }),
         'hasCredentials,type', 'auth has no other member');
ok t_cmp(tool_text($result), qr/"managers":\["\Q$manager->{id}\E"\]/,
         'shows managers');
ok t_cmp(has_text(tool_text($result), '"credentials"'), 0,
         'no credentials member');

# OAuth client credentials, and the access token issued for them, stay
# on the server as well.
my $oauth = ticket_integration($admin, 'servicenow', $other_mock,
                               auth => { type => 'oauth', credentials => {
                                   clientId => 'mock-client',
                                   clientSecret => $other_mock->credentials
                                                   ->{client_secret} } });
$result = tool($admin, 'get_ticket', { integration => $oauth->{_id},
                                       ticket_id => 'INC0010001' });
ok t_cmp(($result->{structuredContent} // {})->{ticket}{key}, 'INC0010001',
         'oauth integration works');
$result = tool($admin, 'get_integration', { integration => $oauth->{_id} });
ok t_cmp(($result->{structuredContent} // {})->{integration}{auth}{type},
         'oauth', 'oauth auth type shown');
ok t_cmp(scalar(grep { /mock-access-/ } @bodies), 0,
         'no access token in results');

# --- check_integration_health ----------------------------------------------

$mock->clear_requests;
$result = tool($manager->{token}, 'check_integration_health',
               { integration => $m });
my $health = $result->{structuredContent} // {};
ok t_cmp($health->{integration}, $m, 'health names integration');
ok t_cmp($health->{status}, 'healthy', 'health status');
ok t_cmp($health->{httpStatus}, 200, 'health http status');
my @log = $mock->requests;
ok t_cmp(scalar @log, qr/^[1-9]/, 'health probed the service');
ok t_cmp(scalar(grep { !$_->{authorized} } @log), 0,
         'health probe authenticated');

$mock->clear_requests;
$result = tool($manager->{token}, 'check_integration_health',
               { integration => $i });
ok t_cmp(($result->{structuredContent} // {})->{status}, 'inactive',
         'inactive health');
ok t_cmp(scalar $mock->requests, 0, 'inactive is not probed');

# Integrators may use every integration, but a health check, as on /api,
# is for admins, the creator and managers.
$mock->clear_requests;
$result = tool($integrator->{token}, 'check_integration_health',
               { integration => $m });
ok t_cmp($result->{isError}, JSON::PP::true, 'integrator health refused');
ok t_cmp(($result->{content}[0] // {})->{text}, qr/managers may run/,
         'integrator health message');
ok t_cmp(scalar $mock->requests, 0, 'refused health sends nothing');

# --- inactive integrations ------------------------------------------------

$result = tool($manager->{token}, 'get_integration', { integration => $i });
ok t_cmp(($result->{structuredContent} // {})->{integration}{isActive},
         JSON::PP::false, 'inactive is shown');
for my $case ([ 'create_ticket', { title => 'Never sent' } ],
              [ 'get_ticket', { ticket_id => '1' } ],
              [ 'list_tickets', {} ],
              [ 'add_comment', { ticket_id => '1', comment => 'No' } ],
              [ 'search_knowledge_base', { query => 'password' } ]) {
    my ($name, $args) = @$case;
    $result = tool($manager->{token}, $name, { integration => $i, %$args });
    ok t_cmp(tool_text($result), qr/inactive.*activate/,
             "inactive refuses $name");
}
ok t_cmp(scalar $mock->requests, 0, 'inactive sends nothing');
my $tickets = $mock->tickets('zendesk')->{tickets};
ok t_cmp(scalar(grep { $_->{subject} eq 'Never sent' } values %$tickets),
         0, 'inactive created nothing');

ok t_cmp(count_secrets(join("\n", @bodies), @secrets), 0,
         'no credentials in any result');
ok t_cmp(scalar @bodies, qr/^[1-9]\d+$/, 'secret check saw results');
