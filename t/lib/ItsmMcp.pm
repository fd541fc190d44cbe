# Licensed under the Apache License, Version 2.0; see LICENSE.
#
# Helpers for the tests of /mcp and of the ticket endpoints: JSON-RPC
# requests and tool calls, API keys, mock services with random secrets,
# integrations of each ticket system on those mocks, audit rows, and runs
# of the official MCP TypeScript SDK client (t/mcp/sdk-client.mjs).
# Nothing here prints a secret, an API key or a token.

package ItsmMcp;

use strict;
use warnings FATAL => 'all';

use Exporter 'import';
use File::Temp ();
use JSON::PP ();
use URI::Escape qw(uri_escape);
use Apache::Test ();
use Apache::TestRequest ();
use ItsmTest qw(api admin_token);
use ItsmIntegration qw(unique_name);
use ItsmMock ();

our @EXPORT = qw(mcp_post rpc call_tool tool_text api_key random_secret
                 ticket_mock ticket_integration secret_forms audit_rows
                 sdk_run);

my $json = JSON::PP->new->utf8->canonical;
my $next_id = 0;

# The Accept header that the official clients send.
my $ACCEPT = 'application/json, text/event-stream';

# POSTs one message to /mcp and returns the result of api(). $message is
# Perl data, sent as JSON, or with raw => 1 the body text itself. Options:
# token; headers => {name => value}, where a value replaces the default
# Accept (that of the official clients) or MCP-Protocol-Version
# (2025-11-25) and undef leaves the header out; type (Content-Type); path
# (default /mcp).
sub mcp_post {
    my ($message, %opt) = @_;
    my %headers = (Accept => $ACCEPT, 'MCP-Protocol-Version' => '2025-11-25',
                   %{ $opt{headers} || {} });
    delete @headers{ grep { !defined $headers{$_} } keys %headers };
    my $body = $opt{raw} ? $message : $json->encode($message);
    return api(POST => $opt{path} // '/mcp', token => $opt{token},
               body => $body, headers => \%headers,
               (exists $opt{type} ? (type => $opt{type}) : ()));
}

# Sends a JSON-RPC request with a fresh integer id and returns the result
# of api(); $params may be undef to send none.
sub rpc {
    my ($token, $method, $params, %opt) = @_;
    my $message = { jsonrpc => '2.0', id => ++$next_id, method => $method };
    $message->{params} = $params if defined $params;
    return mcp_post($message, token => $token, %opt);
}

# Calls a tool and returns the JSON-RPC result object (content,
# structuredContent, isError), or undef for a JSON-RPC error or an HTTP
# failure. In list context also returns the api() result.
sub call_tool {
    my ($token, $name, $arguments, %opt) = @_;
    my $res = rpc($token, 'tools/call',
                  { name => $name, arguments => $arguments // {} }, %opt);
    my $result = ref $res->{json} eq 'HASH' ? $res->{json}{result} : undef;
    return wantarray ? ($result, $res) : $result;
}

# The text of the first content item of a tool result, or ''.
sub tool_text {
    my ($result) = @_;
    return '' unless ref $result eq 'HASH' && ref $result->{content};
    return $result->{content}[0]{text} // '';
}

# Creates an API key for $user_id (default: the bootstrap admin) with
# scope 'read' or 'write' and returns the key text.
sub api_key {
    my ($user_id, $scope) = @_;
    my %body = (name => unique_name('MCP key'), scope => $scope // 'write');
    $body{userId} = $user_id if defined $user_id;
    my $res = api(POST => 'auth/api-keys', token => admin_token(),
                  json => \%body);
    die "creating an API key failed: HTTP $res->{status}\n"
        unless $res->{status} == 201;
    return $res->{json}{data}{key};
}

sub random_secret {
    my ($tag) = @_;
    return "$tag-" . unpack('H*', pack('N2', rand 2**32, rand 2**32));
}

# Starts a mock service whose password, API token and client secret are
# random. Options are passed to ItsmMock->start.
sub ticket_mock {
    my (%opt) = @_;
    return ItsmMock->start(
        username => 'ticket-user', password => random_secret('password'),
        email => 'agent@example.com', api_token => random_secret('token'),
        bearer_token => random_secret('bearer'),
        api_key => random_secret('key'), client_secret => random_secret('oauth'),
        workers => 4, %opt);
}

# Every form in which the credentials of $mock could leave the server: the
# values themselves and the HTTP Basic values built from them.
sub secret_forms {
    my ($mock) = @_;
    my $c = $mock->credentials;
    return (@{$c}{qw(password api_token bearer_token api_key client_secret)},
            ItsmIntegration::http_basic($c->{username}, $c->{password}),
            ItsmIntegration::http_basic($c->{email}, $c->{api_token}),
            ItsmIntegration::http_basic("$c->{email}/token",
                                        $c->{api_token}));
}

# Creates an integration of $type (jira, servicenow or zendesk) on $mock
# with the credentials the mock accepts, and returns its JSON form. Jira
# gets options projectKey ITSM and confluence true. Options: any member of
# the create body (name, isActive, managers, ...), options => replaces
# config.options, auth => replaces config.auth.
sub ticket_integration {
    my ($token, $type, $mock, %opt) = @_;
    my $c = $mock->credentials;
    my %auth = (
        jira => { type => 'token', credentials => {
                      email => $c->{email}, apiToken => $c->{api_token} } },
        servicenow => { type => 'basic', credentials => {
                            username => $c->{username},
                            password => $c->{password} } },
        zendesk => { type => 'token', credentials => {
                         email => $c->{email}, apiToken => $c->{api_token} } },
    );
    my $options = exists $opt{options} ? delete $opt{options}
                : $type eq 'jira'
                ? { projectKey => 'ITSM', confluence => JSON::PP::true }
                : undef;
    my $config = { baseUrl => $mock->url,
                   auth => delete $opt{auth} // $auth{$type} };
    $config->{options} = $options if defined $options;
    my $res = api(POST => 'integration', token => $token, json => {
        name => unique_name("MCP $type"),
        description => "Ticket tests on $type", type => $type,
        config => $config, endpoints => [], %opt });
    die "creating a $type integration failed: HTTP $res->{status} "
        . ($res->{json}{message} // '') . "\n"
        unless $res->{status} == 201;
    return $res->{json}{data};
}

# Returns the audit rows (newest first) that match the filters of GET
# /api/audit (action, target, actor, targetType).
sub audit_rows {
    my (%filter) = @_;
    my $query = join '&', 'limit=200',
        map { "$_=" . uri_escape($filter{$_}) } sort keys %filter;
    my $res = api(GET => "audit?$query", token => admin_token());
    die "reading the audit log failed: HTTP $res->{status}\n"
        unless $res->{status} == 200;
    return @{ $res->{json}{data} };
}

# Runs t/mcp/sdk-client.mjs against /mcp (or $opt{module}'s /mcp) with
# $key as the API key and $calls ([{tool, arguments}]) and returns its
# decoded output: {serverVersion, protocolVersion, tools, results, fatal}.
sub sdk_run {
    my ($key, $calls, %opt) = @_;
    my $vars = Apache::Test::vars();
    my $saved = Apache::TestRequest::module();
    Apache::TestRequest::module($opt{module}) if $opt{module};
    my $url = Apache::TestRequest::resolve_url('/mcp');
    Apache::TestRequest::module($saved // 'default');

    my $file = File::Temp->new(SUFFIX => '.json');
    print $file $json->encode($calls // []);
    close $file;
    local $ENV{MCP_KEY} = $key;
    open my $pipe, '-|', 'node', "$vars->{t_dir}/mcp/sdk-client.mjs", $url,
        $file->filename
        or die "cannot run node: $!\n";
    my $output = do { local $/; <$pipe> };
    close $pipe;
    my $decoded = eval { $json->decode($output // '') };
    return $decoded // { fatal => "no JSON output (node exit status $?)" };
}

1;
