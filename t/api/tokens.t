# Licensed under the Apache License, Version 2.0; see LICENSE.
#
# Bearer token verification: every forged, stale or malformed token gets
# 401, and the role that counts is the one in the database.
use strict;
use warnings FATAL => 'all';

use Apache::Test;
use Apache::TestUtil;
use ItsmTest;
use MIME::Base64 qw(encode_base64url);

plan tests => 70;

my $user = new_user(role => 'user');
my $now = time;

# Claims that the server accepts for $user; each case below changes one.
sub claims {
    my (%change) = @_;
    my %claims = (iss => 'mod_itsm', aud => 'itsm-api', sub => $user->{id},
                  role => 'user', jti => 'test-' . rand(), ver => 0,
                  iat => $now, nbf => $now, exp => $now + 600);
    while (my ($k, $v) = each %change) {
        if (defined $v) {
            $claims{$k} = $v;
        }
        else {
            delete $claims{$k};
        }
    }
    return \%claims;
}

sub me {
    my ($token) = @_;
    return api(GET => 'users/profile/me', token => $token);
}

sub b64 { encode_base64url(json_encode($_[0])) }

# The unchanged claims pass, so each 401 below comes from its one change.
my $res = me(sign_token(claims()));
ok t_cmp($res->{status}, 200, 'control token is accepted');
ok t_cmp($res->{json}{data}{_id}, $user->{id}, 'control token is the user');

# No credentials at all.
$res = api(GET => 'users/profile/me');
ok t_cmp($res->{status}, 401, 'no token is 401');
ok t_cmp($res->{json}{message}, 'Authentication required',
         'no token message');
ok t_cmp(defined $res->{headers}->header('WWW-Authenticate'), 1,
         'no token has WWW-Authenticate');
ok t_cmp($res->{type}, qr{^application/json}, 'no token response is JSON');

$res = api(GET => 'users/profile/me',
           headers => { Authorization => 'Basic YWRtaW46YWRtaW4=' });
ok t_cmp($res->{status}, 401, 'Basic credentials are 401');

$res = api(GET => 'users/profile/me',
           headers => { Authorization => 'Bearer' });
ok t_cmp($res->{status}, 401, 'empty Bearer is 401');

$res = me('not-a-token');
ok t_cmp($res->{status}, 401, 'garbage token is 401');
ok t_cmp($res->{json}{message}, qr/token/i, 'garbage token message');
ok t_cmp($res->{headers}->header('WWW-Authenticate') // '',
         qr/invalid_token/, 'garbage token WWW-Authenticate');
ok t_cmp($res->{json}{success}, JSON::PP::false, 'garbage token success');

# Algorithm "none" and other algorithms.
my $none = b64({ alg => 'none', typ => 'JWT' }) . '.' . b64(claims()) . '.';
ok t_cmp(me($none)->{status}, 401, 'alg none unsigned is 401');

$res = me(sign_token(claims(), header => { alg => 'none', typ => 'JWT' }));
ok t_cmp($res->{status}, 401, 'alg none signed is 401');

$res = me(sign_token(claims(), header => { alg => 'HS512', typ => 'JWT' }));
ok t_cmp($res->{status}, 401, 'alg HS512 header is 401');

$res = me(sign_token(claims(), header => { typ => 'JWT' }));
ok t_cmp($res->{status}, 401, 'missing alg is 401');

# Signatures.
$res = me(sign_token(claims(), key => 'k' x 48));
ok t_cmp($res->{status}, 401, 'wrong key is 401');

my ($h, $p, $s) = split /\./, $user->{token};
my $admin_claims = token_claims($user->{token});
$admin_claims->{role} = 'admin';
my $tampered = join '.', $h, b64($admin_claims), $s;
ok t_cmp(me($tampered)->{status}, 401, 'tampered payload is 401');
ok t_cmp(api(GET => 'users', token => $tampered)->{status}, 401,
         'tampered payload gets no admin list');

ok t_cmp(me("$h.$p.")->{status}, 401, 'stripped signature is 401');
ok t_cmp(me("$h.$p")->{status}, 401, 'two parts is 401');
ok t_cmp(me("$h.$p.$s.$s")->{status}, 401, 'four parts is 401');

# Trailing characters: libjwt 1.10 decodes base64 leniently.
ok t_cmp(me($user->{token})->{status}, 200, 'genuine token is accepted');
ok t_cmp(me($user->{token} . 'A')->{status}, 401, 'trailing A is 401');
ok t_cmp(me($user->{token} . '=')->{status}, 401, 'trailing = is 401');
ok t_cmp(me($user->{token} . '.')->{status}, 401, 'trailing dot is 401');
ok t_cmp(me("$h=.$p.$s")->{status}, 401, 'padded header is 401');
ok t_cmp(me('x' x 5000)->{status}, 401, 'oversized token is 401');

# Time claims.
$res = me(sign_token(claims(iat => $now - 7200, nbf => $now - 7200,
                            exp => $now - 3600)));
ok t_cmp($res->{status}, 401, 'expired token is 401');
ok t_cmp($res->{json}{message}, qr/expired/i, 'expired token message');
ok t_cmp($res->{headers}->header('WWW-Authenticate') // '',
         qr/^Bearer\b.*invalid_token/, 'expired token WWW-Authenticate');

$res = me(sign_token(claims(nbf => $now + 3600, exp => $now + 7200)));
ok t_cmp($res->{status}, 401, 'future nbf is 401');
ok t_cmp($res->{json}{message}, qr/not valid yet/i, 'future nbf message');

$res = me(sign_token(claims(iat => $now + 3600, nbf => undef,
                            exp => $now + 7200)));
ok t_cmp($res->{status}, 401, 'future iat is 401');

$res = me(sign_token(claims(exp => undef)));
ok t_cmp($res->{status}, 401, 'missing exp is 401');

$res = me(sign_token(claims(exp => '9999999999')));
ok t_cmp($res->{status}, 401, 'string exp is 401');

$res = me(sign_token(claims(exp => 1.5e10 + 0.5)));
ok t_cmp($res->{status}, 401, 'fractional exp is 401');

$res = me(sign_token(claims(nbf => "$now")));
ok t_cmp($res->{status}, 401, 'string nbf is 401');

$res = me(sign_token(claims(iat => undef)));
ok t_cmp($res->{status}, 401, 'missing iat is 401');

# Issuer and audience.
$res = me(sign_token(claims(iss => 'someone-else')));
ok t_cmp($res->{status}, 401, 'wrong issuer is 401');
$res = me(sign_token(claims(iss => undef)));
ok t_cmp($res->{status}, 401, 'missing issuer is 401');
$res = me(sign_token(claims(aud => 'other-api')));
ok t_cmp($res->{status}, 401, 'wrong audience is 401');
$res = me(sign_token(claims(aud => undef)));
ok t_cmp($res->{status}, 401, 'missing audience is 401');
$res = me(sign_token(claims(aud => ['other-api'])));
ok t_cmp($res->{status}, 401, 'audience list without us is 401');

# Subject, version and id claims.
$res = me(sign_token(claims(sub => undef)));
ok t_cmp($res->{status}, 401, 'missing sub is 401');
$res = me(sign_token(claims(sub => 'ABCDEF0123456789ABCDEF01')));
ok t_cmp($res->{status}, 401, 'malformed sub is 401');
$res = me(sign_token(claims(sub => '0' x 24)));
ok t_cmp($res->{status}, 401, 'unknown sub is 401');
$res = me(sign_token(claims(ver => undef)));
ok t_cmp($res->{status}, 401, 'missing ver is 401');
$res = me(sign_token(claims(ver => 7)));
ok t_cmp($res->{status}, 401, 'wrong ver is 401');
$res = me(sign_token(claims(ver => '0')));
ok t_cmp($res->{status}, 401, 'string ver is 401');

# Duplicate claims: a parser that keeps the last member would see a valid
# exp, role or sub here.
my $c = claims();
my $body = json_encode({ %$c, exp => $now - 3600 });
$body =~ s/}$/,"exp":@{[$now + 600]}}/;
$res = me(sign_token(undef, payload => $body));
ok t_cmp($res->{status}, 401, 'duplicate exp is 401');

$body = json_encode($c);
$body =~ s/}$/,"sub":"$user->{id}"}/;
$res = me(sign_token(undef, payload => $body));
ok t_cmp($res->{status}, 401, 'duplicate sub is 401');

$res = me(sign_token(undef, payload => '[1,2,3]'));
ok t_cmp($res->{status}, 401, 'array payload is 401');
$res = me(sign_token(undef, payload => '{"exp":'));
ok t_cmp($res->{status}, 401, 'malformed payload is 401');

# The role in the token grants nothing: the database role counts.
$res = api(GET => 'users', token => sign_token(claims(role => 'admin')));
ok t_cmp($res->{status}, 403, 'user claiming admin gets 403');
$res = api(DELETE => "users/$user->{id}",
           token => sign_token(claims(role => 'admin')));
ok t_cmp($res->{status}, 403, 'user claiming admin cannot delete');

my $demoted = new_user(role => 'admin');
ok t_cmp(api(GET => 'users', token => $demoted->{token})->{status}, 200,
         'admin token lists users');
$res = api(PUT => "users/$demoted->{id}", token => admin_token(),
           json => { role => 'user' });
ok t_cmp($res->{status}, 200, 'demoting an admin is 200');
ok t_cmp(token_claims($demoted->{token})->{role}, 'admin',
         'old token still claims admin');
ok t_cmp(api(GET => 'users', token => $demoted->{token})->{status}, 403,
         'demoted admin token gets 403');

# A token of a deleted user.
my $gone = new_user(role => 'user');
ok t_cmp(me($gone->{token})->{status}, 200, 'token works before delete');
$res = api(DELETE => "users/$gone->{id}", token => admin_token());
ok t_cmp($res->{status}, 200, 'deleting the user is 200');
ok t_cmp(me($gone->{token})->{status}, 401, 'deleted user token is 401');

# A token from before a password change.
my $changer = new_user(role => 'user');
$res = api(PUT => "users/$changer->{id}/password", token => $changer->{token},
           json => { currentPassword => $changer->{password},
                     newPassword => 'a-brand-new-password' });
ok t_cmp($res->{status}, 200, 'password change is 200');
ok t_cmp(me($changer->{token})->{status}, 401,
         'token from before password change is 401');
my $fresh = login($changer->{email}, 'a-brand-new-password');
ok t_cmp(me($fresh)->{status}, 200, 'token after password change works');

# Tokens of a deactivated user, including one carrying the version that
# deactivation set (0 on creation, 1 after it), so the activity check is
# tested apart from the version check.
my $off = new_user(role => 'user');
$res = api(PUT => "users/$off->{id}", token => admin_token(),
           json => { isActive => JSON::PP::false });
ok t_cmp($res->{status}, 200, 'deactivation is 200');
ok t_cmp(me($off->{token})->{status}, 401, 'deactivated user token is 401');
$res = me(sign_token(claims(sub => $off->{id}, ver => 1)));
ok t_cmp($res->{status}, 401, 'deactivated user current-version token 401');

# Every response of this file, checked as it arrived.
ok t_cmp(leaked_responses(), 0, 'no response has a password or hash');
