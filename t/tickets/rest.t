# Licensed under the Apache License, Version 2.0; see LICENSE.
#
# The ticket endpoints under /api/integration/:id on a Jira, a ServiceNow
# and a Zendesk integration, each on a mock service of its own: list,
# create, get, update, comment and knowledge base search, with the API's
# envelope ({"success":true, "data":...}) and statuses, and what the
# mocks' ticket stores show afterwards.
use strict;
use warnings FATAL => 'all';

use Apache::Test;
use Apache::TestUtil;
use URI::Escape qw(uri_escape);
use ItsmTest;
use ItsmIntegration;
use ItsmMcp;

my @SYSTEMS = qw(jira servicenow zendesk);

plan tests => @SYSTEMS * 38 + 2;

my $admin = admin_token();
my $user = new_user(role => 'user');
my $token = $user->{token};

# The seeded tickets, users and articles of ItsmMock.
my %seed = (
    jira => { get => 'ITSM-2', change => 'ITSM-3', user => 'alana@example.com',
              assignee => '5b10ac8d82e05b22cc7d4ef5', query => 'printer',
              article => '65538' },
    servicenow => { get => 'INC0010002', change => 'INC0010001',
                    user => 'beth.anglin@example.com',
                    assignee => '46d44a23a9fe19810012d100cca80666',
                    query => 'printer', article => 'KB0000002' },
    zendesk => { get => '1', change => '3', user => 'sam@example.com',
                 assignee => '7654321', query => 'refund',
                 article => '360002' },
);

my %mock;
my @bodies;
for my $system (@SYSTEMS) {
    my $mock = $mock{$system} = ticket_mock();
    my $it = ticket_integration($admin, $system, $mock,
                                managers => [ $user->{id} ]);
    my $base = "integration/$it->{_id}";
    my $s = $seed{$system};

    my $call = sub {
        my $res = api(@_, token => $token);
        push @bodies, $res->{body};
        return $res;
    };

    # List, with a limit that leaves a next page.
    my $res = $call->(GET => "$base/tickets?limit=2");
    ok t_cmp($res->{status}, 200, "$system list status");
    ok t_cmp($res->{json}{success}, JSON::PP::true, "$system list success");
    ok t_cmp($res->{json}{count}, 2, "$system list count");
    ok t_cmp(scalar @{ $res->{json}{data} || [] }, 2, "$system list data");
    ok t_cmp(defined $res->{json}{nextCursor} ? 1 : 0, 1,
             "$system list cursor");
    my $first = $res->{json}{data}[0] // {};
    ok t_cmp($first->{system}, $system, "$system ticket system");
    ok t_cmp($first->{integration}, $it->{_id}, "$system ticket integration");

    $res = $call->(GET => "$base/tickets?limit=2&cursor="
                   . uri_escape($res->{json}{nextCursor} // ''));
    ok t_cmp($res->{status}, 200, "$system next page status");
    ok t_cmp(($res->{json}{data}[0] // {})->{id} ne $first->{id} ? 1 : 0, 1,
             "$system next page moves on");

    $res = $call->(GET => "$base/tickets?limit=100");
    ok t_cmp(exists $res->{json}{nextCursor} && !defined
             $res->{json}{nextCursor} ? 1 : 0, 1, "$system last page cursor");

    $res = $call->(GET => "$base/tickets?status=resolved");
    ok t_cmp(join(',', map { $_->{status} // 'null' }
                  @{ $res->{json}{data} || [] }), qr/^resolved(,resolved)*$/,
             "$system list by status");

    # Create.
    $res = $call->(POST => "$base/tickets",
                   json => { title => "REST ticket on $system",
                             description => 'Opened through /api',
                             priority => 'critical' });
    ok t_cmp($res->{status}, 201, "$system create status");
    ok t_cmp($res->{json}{message}, 'Ticket created successfully',
             "$system create message");
    my $created = $res->{json}{data} // {};
    ok t_cmp($created->{title}, "REST ticket on $system",
             "$system created title");
    ok t_cmp($created->{priority}, 'critical', "$system created priority");
    ok t_cmp($created->{status}, 'open', "$system created status");

    # Get, by the key that people quote and by the system's own id.
    $res = $call->(GET => "$base/tickets/$s->{get}");
    ok t_cmp($res->{status}, 200, "$system get status");
    ok t_cmp($res->{json}{data}{key}, $s->{get}, "$system get key");
    my $own_id = $res->{json}{data}{id} // '';
    $res = $call->(GET => "$base/tickets/" . uri_escape($own_id));
    ok t_cmp($res->{json}{data}{key}, $s->{get}, "$system get by id");
    ok t_cmp($call->(GET => "$base/tickets/" . uri_escape($created->{id}))
             ->{json}{data}{title}, "REST ticket on $system",
             "$system get created");

    # Update: status, priority, comment and assignee in one request.
    $res = $call->(PUT => "$base/tickets/$s->{change}",
                   json => { status => 'closed', priority => 'low',
                             comment => "Closed on $system",
                             assignee => $s->{user} });
    ok t_cmp($res->{status}, 200, "$system update status");
    ok t_cmp($res->{json}{message}, 'Ticket updated successfully',
             "$system update message");
    ok t_cmp($res->{json}{data}{status}, 'closed', "$system updated status");
    ok t_cmp($res->{json}{data}{priority}, 'low', "$system updated priority");
    ok t_cmp($res->{json}{data}{assignee}, $s->{assignee},
             "$system updated assignee");

    # Assignee alone.
    $res = $call->(PUT => "$base/tickets/$s->{get}",
                   json => { assignee => $s->{user} });
    ok t_cmp($res->{status}, 200, "$system assign status");
    ok t_cmp($res->{json}{data}{assignee}, $s->{assignee},
             "$system assigned");

    # List by assignee: Jira takes the accountId only, the others also
    # take an e-mail address.
    $res = $call->(GET => "$base/tickets?assignedTo=" . uri_escape(
                       $system eq 'jira' ? $s->{assignee} : $s->{user}));
    my @assigned = @{ $res->{json}{data} || [] };
    ok t_cmp(scalar @assigned, qr/^[1-9]/, "$system list by assignee");
    ok t_cmp(scalar(grep { ($_->{assignee} // '') ne $s->{assignee} }
                    @assigned), 0, "$system assignee filter");

    # Comment.
    $res = $call->(POST => "$base/tickets/$s->{get}/comments",
                   json => { comment => "Private note on $system",
                             internal => JSON::PP::true });
    ok t_cmp($res->{status}, 201, "$system comment status");
    ok t_cmp($res->{json}{message}, 'Comment added successfully',
             "$system comment message");
    ok t_cmp($res->{json}{data}{body}, "Private note on $system",
             "$system comment body");
    ok t_cmp($res->{json}{data}{internal}, JSON::PP::true,
             "$system comment internal");

    # Knowledge base.
    $res = $call->(GET => "$base/knowledge-base?query=$s->{query}&limit=3");
    ok t_cmp($res->{status}, 200, "$system kb status");
    ok t_cmp($res->{json}{count}, 1, "$system kb count");
    my $article = $res->{json}{data}[0] // {};
    ok t_cmp($system eq 'servicenow' ? $article->{title} : $article->{id},
             $system eq 'servicenow' ? 'Printer troubleshooting'
                                     : $s->{article}, "$system kb article");

    # The service's view: requests with valid credentials.
    my @log = $mock->requests;
    ok t_cmp(scalar @log, qr/^[1-9]/, "$system mock got requests");
    ok t_cmp(scalar(grep { !$_->{authorized} } @log), 0,
             "$system requests authorized");
}

# What the stores show.
my $jira = $mock{jira}->tickets('jira')->{issues};
ok t_cmp($jira->{'ITSM-3'}{status}, 'Closed', 'jira store closed');
my $zendesk = $mock{zendesk}->tickets('zendesk')->{tickets};
ok t_cmp($zendesk->{3}{comments}[-1]{body}, 'Closed on zendesk',
         'zendesk store comment');
