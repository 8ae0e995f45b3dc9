package RTMP::AMF0;

# AMF0 (Action Message Format, version 0) encoder/decoder for the test
# suite, written from the public AMF0 specification.
#
# Perl representation of AMF0 values:
#
#   number        plain Perl number (decoded as an NV)
#   boolean       JSON::PP::true / JSON::PP::false
#   string        plain Perl string (byte string; UTF-8 bytes as sent)
#   long string   plain Perl string (the encoder picks long string by itself
#                 for strings longer than 65535 bytes, or use long_str())
#   object        hashref tied to RTMP::AMF0::OrderedHash: `keys %$h`
#                 returns the keys in wire order
#   ECMA array    same as object, but the tie remembers it was an ECMA
#                 array, so it is encoded back as one (see is_ecma())
#   strict array  arrayref
#   null          undef
#   undefined     undef (encode one with undefined())
#   date          RTMP::AMF0::Date object: ->ms, ->tz
#
# Encoding plain Perl values guesses the type: undef is null, a scalar that
# was created as a number is a number, any other scalar is a string, an
# arrayref is a strict array, an untied hashref is an object with its keys
# sorted.  Where that is ambiguous, force the type with num(), str(),
# long_str(), bool(), undefined(), date(), obj() or ecma().

use strict;
use warnings;

use Carp qw(croak);
use Exporter qw(import);
use JSON::PP ();
use Scalar::Util qw(blessed reftype);

our @EXPORT_OK = qw(
    amf0_encode amf0_decode
    num str long_str bool true false null undefined date obj ecma
    keys_in_order is_ecma
);
our %EXPORT_TAGS = (all => \@EXPORT_OK);

# type markers
use constant {
    T_NUMBER      => 0x00,
    T_BOOLEAN     => 0x01,
    T_STRING      => 0x02,
    T_OBJECT      => 0x03,
    T_MOVIECLIP   => 0x04,
    T_NULL        => 0x05,
    T_UNDEFINED   => 0x06,
    T_REFERENCE   => 0x07,
    T_ECMA_ARRAY  => 0x08,
    T_OBJECT_END  => 0x09,
    T_STRICT_ARR  => 0x0A,
    T_DATE        => 0x0B,
    T_LONG_STRING => 0x0C,
};

# Perl 5.36 can tell whether a scalar was created as a number even after it
# was stringified; older perls fall back to the SV flags.
my $created_as_number;
BEGIN {
    if (eval { require builtin; defined &builtin::created_as_number }) {
        no warnings;
        $created_as_number = \&builtin::created_as_number;
    } else {
        require B;
        $created_as_number = sub {
            my $flags = B::svref_2object(\$_[0])->FLAGS;
            return ($flags & (B::SVp_IOK() | B::SVp_NOK()))
                && !($flags & B::SVp_POK());
        };
    }
}

### type forcing constructors

sub num      { RTMP::AMF0::Typed->new(number => $_[0]) }
sub str      { RTMP::AMF0::Typed->new(string => $_[0]) }
sub long_str { RTMP::AMF0::Typed->new(long_string => $_[0]) }
sub bool     { $_[0] ? JSON::PP::true() : JSON::PP::false() }
sub true     { JSON::PP::true() }
sub false    { JSON::PP::false() }
sub null     { undef }
sub undefined { RTMP::AMF0::Typed->new(undefined => undef) }

# date(milliseconds since epoch, timezone offset in minutes)
sub date { RTMP::AMF0::Date->new(@_) }

# obj(k1 => v1, k2 => v2, ...) or obj([k1 => v1, ...]): an ordered object
sub obj  { _ordered('object', @_) }

# ecma(k1 => v1, ...): an ordered ECMA array
sub ecma { _ordered('ecma', @_) }

sub _ordered {
    my $type = shift;
    my @pairs = (@_ == 1 && ref $_[0] eq 'ARRAY') ? @{$_[0]} : @_;
    croak "odd number of elements in AMF0 $type" if @pairs % 2;
    my %h;
    my $tie = tie %h, 'RTMP::AMF0::OrderedHash';
    $tie->{type} = $type;
    while (@pairs) {
        my ($k, $v) = splice @pairs, 0, 2;
        $h{$k} = $v;
    }
    return \%h;
}

# keys of a decoded (or obj()/ecma()) hash in wire order; sorted keys for a
# plain hash
sub keys_in_order {
    my ($h) = @_;
    croak "keys_in_order: not a hashref" unless (reftype($h) // "") eq "HASH";
    my $tie = tied %$h;
    return @{$tie->{keys}} if $tie && $tie->isa('RTMP::AMF0::OrderedHash');
    return sort keys %$h;
}

# true when the hash was decoded from (or built as) an ECMA array
sub is_ecma {
    my ($h) = @_;
    return 0 unless (reftype($h) // '') eq 'HASH';
    my $tie = tied %$h;
    return ($tie && $tie->isa('RTMP::AMF0::OrderedHash')
            && $tie->{type} eq 'ecma') ? 1 : 0;
}

### encoder

sub amf0_encode { return join '', map { _enc($_) } @_ }
sub encode { return amf0_encode(@_) }

sub _enc_utf8 {
    my ($s) = @_;
    $s = "$s";
    utf8::encode($s) if utf8::is_utf8($s);
    return $s;
}

sub _enc_string {
    my ($s, $force_long) = @_;
    $s = _enc_utf8($s);
    if ($force_long || length($s) > 0xFFFF) {
        return pack('C N', T_LONG_STRING, length $s) . $s;
    }
    return pack('C n', T_STRING, length $s) . $s;
}

# object property name: u16 length + bytes, no type marker
sub _enc_key {
    my $k = _enc_utf8($_[0]);
    croak "AMF0 property name too long" if length($k) > 0xFFFF;
    return pack('n', length $k) . $k;
}

sub _enc_props {
    my ($h) = @_;
    my $out = '';
    for my $k (keys_in_order($h)) {
        $out .= _enc_key($k) . _enc($h->{$k});
    }
    return $out . pack('n C', 0, T_OBJECT_END);
}

sub _enc {
    my ($v) = @_;

    return pack('C', T_NULL) unless defined $v;

    if (my $class = blessed $v) {
        if ($v->isa('RTMP::AMF0::Typed')) {
            my ($t, $x) = ($v->{type}, $v->{value});
            return pack('C d>', T_NUMBER, $x)  if $t eq 'number';
            return _enc_string($x, 0)          if $t eq 'string';
            return _enc_string($x, 1)          if $t eq 'long_string';
            return pack('C', T_UNDEFINED)      if $t eq 'undefined';
            croak "unknown AMF0 typed value '$t'";
        }
        if ($v->isa('JSON::PP::Boolean')) {
            return pack('C C', T_BOOLEAN, $v ? 1 : 0);
        }
        if ($v->isa('RTMP::AMF0::Date')) {
            return pack('C d> s>', T_DATE, $v->{ms}, $v->{tz});
        }
        croak "cannot AMF0-encode an object of class $class";
    }

    my $rt = reftype($v) // '';
    if ($rt eq 'HASH') {
        my $marker = is_ecma($v) ? T_ECMA_ARRAY : T_OBJECT;
        my $head = pack('C', $marker);
        # the ECMA array count is only a hint; we give the real one
        $head .= pack('N', scalar keys_in_order($v)) if $marker == T_ECMA_ARRAY;
        return $head . _enc_props($v);
    }
    if ($rt eq 'ARRAY') {
        return pack('C N', T_STRICT_ARR, scalar @$v) . join('', map { _enc($_) } @$v);
    }
    if ($rt eq 'SCALAR' && !ref $$v && defined $$v && ($$v eq '0' || $$v eq '1')) {
        # \1 and \0 as booleans, as in JSON::PP
        return pack('C C', T_BOOLEAN, $$v);
    }
    croak "cannot AMF0-encode a reference to $rt" if $rt;

    return pack('C d>', T_NUMBER, $v) if $created_as_number->($v);
    return _enc_string($v, 0);
}

### decoder

# amf0_decode($bytes): list of all values in $bytes; dies on malformed data
sub amf0_decode {
    my ($bytes) = @_;
    my $pos = 0;
    my @out;
    push @out, decode_value($bytes, \$pos) while $pos < length $bytes;
    return @out;
}
sub decode { return amf0_decode(@_) }

sub _need {
    my ($buf, $pos, $n, $what) = @_;
    die sprintf("AMF0: truncated %s at offset %d (need %d, have %d)\n",
                $what, $pos, $n, length($buf) - $pos)
        if $pos + $n > length $buf;
}

sub _dec_short_str {
    my ($buf, $pr) = @_;
    _need($buf, $$pr, 2, 'string length');
    my $len = unpack('n', substr($buf, $$pr, 2));
    $$pr += 2;
    _need($buf, $$pr, $len, 'string');
    my $s = substr($buf, $$pr, $len);
    $$pr += $len;
    return $s;
}

# properties up to and including the 0x00 0x00 0x09 end marker
sub _dec_props {
    my ($buf, $pr, $type) = @_;
    my %h;
    my $tie = tie %h, 'RTMP::AMF0::OrderedHash';
    $tie->{type} = $type;
    while (1) {
        my $k = _dec_short_str($buf, $pr);
        if ($k eq '') {
            _need($buf, $$pr, 1, 'object end');
            if (ord(substr($buf, $$pr, 1)) == T_OBJECT_END) {
                $$pr++;
                last;
            }
        }
        $h{$k} = decode_value($buf, $pr);
    }
    return \%h;
}

# decode_value($bytes, \$pos): one value starting at $pos; advances $pos
sub decode_value {
    my ($buf, $pr) = @_;
    _need($buf, $$pr, 1, 'type marker');
    my $t = ord substr($buf, $$pr++, 1);

    if ($t == T_NUMBER) {
        _need($buf, $$pr, 8, 'number');
        my $v = unpack('d>', substr($buf, $$pr, 8));
        $$pr += 8;
        return $v;
    }
    if ($t == T_BOOLEAN) {
        _need($buf, $$pr, 1, 'boolean');
        return ord(substr($buf, $$pr++, 1)) ? JSON::PP::true() : JSON::PP::false();
    }
    if ($t == T_STRING) {
        return _dec_short_str($buf, $pr);
    }
    if ($t == T_LONG_STRING) {
        _need($buf, $$pr, 4, 'long string length');
        my $len = unpack('N', substr($buf, $$pr, 4));
        $$pr += 4;
        _need($buf, $$pr, $len, 'long string');
        my $s = substr($buf, $$pr, $len);
        $$pr += $len;
        return $s;
    }
    if ($t == T_OBJECT) {
        return _dec_props($buf, $pr, 'object');
    }
    if ($t == T_ECMA_ARRAY) {
        _need($buf, $$pr, 4, 'ECMA array count');
        $$pr += 4;      # count is advisory; the end marker terminates
        return _dec_props($buf, $pr, 'ecma');
    }
    if ($t == T_STRICT_ARR) {
        _need($buf, $$pr, 4, 'strict array count');
        my $n = unpack('N', substr($buf, $$pr, 4));
        $$pr += 4;
        my @a;
        push @a, decode_value($buf, $pr) for 1 .. $n;
        return \@a;
    }
    if ($t == T_DATE) {
        _need($buf, $$pr, 10, 'date');
        my ($ms, $tz) = unpack('d> s>', substr($buf, $$pr, 10));
        $$pr += 10;
        return RTMP::AMF0::Date->new($ms, $tz);
    }
    return undef if $t == T_NULL || $t == T_UNDEFINED;
    if ($t == T_OBJECT_END) {
        die sprintf("AMF0: unexpected object end marker at offset %d\n", $$pr - 1);
    }
    die sprintf("AMF0: unsupported type marker 0x%02x at offset %d\n", $t, $$pr - 1);
}

### helper classes

package RTMP::AMF0::Typed;

sub new { my ($class, $type, $value) = @_; bless { type => $type, value => $value }, $class }
sub type  { $_[0]{type} }
sub value { $_[0]{value} }

package RTMP::AMF0::Date;

sub new {
    my ($class, $ms, $tz) = @_;
    return bless { ms => $ms // 0, tz => $tz // 0 }, $class;
}
sub ms { $_[0]{ms} }
sub tz { $_[0]{tz} }

# A minimal insertion-ordered hash (tie interface).  {type} is 'object' or
# 'ecma' and only matters to the encoder.
package RTMP::AMF0::OrderedHash;

sub TIEHASH { bless { keys => [], vals => {}, type => 'object' }, $_[0] }

sub STORE {
    my ($self, $k, $v) = @_;
    push @{$self->{keys}}, $k unless exists $self->{vals}{$k};
    $self->{vals}{$k} = $v;
}

sub FETCH  { $_[0]{vals}{$_[1]} }
sub EXISTS { exists $_[0]{vals}{$_[1]} }

sub DELETE {
    my ($self, $k) = @_;
    return undef unless exists $self->{vals}{$k};
    @{$self->{keys}} = grep { $_ ne $k } @{$self->{keys}};
    return delete $self->{vals}{$k};
}

sub CLEAR {
    my ($self) = @_;
    $self->{keys} = [];
    $self->{vals} = {};
}

sub FIRSTKEY { $_[0]{iter} = 0; $_[0]->NEXTKEY }

sub NEXTKEY {
    my ($self) = @_;
    my $i = $self->{iter}++;
    return $i < @{$self->{keys}} ? $self->{keys}[$i] : undef;
}

sub SCALAR { scalar @{$_[0]{keys}} }

1;
