//! Audio re-encoding, for the one case where a stream cannot be copied: the output container
//! cannot hold the input's audio codec (AAC into WebM, say). Decode, convert with an FFmpeg
//! filter graph (`aresample`, frame sizing for encoders with fixed frame sizes), encode.

use super::ffmpeg;
use deeplens_core::{ErrorKind, Kind, Result};
use ffmpeg::{codec, filter, format, frame, Packet, Rational};

pub(crate) struct AudioTranscoder {
    decoder: codec::decoder::Audio,
    encoder: codec::encoder::Audio,
    graph: filter::Graph,
    pub ost: usize,
    in_tb: Rational,
    enc_tb: Rational,
    pub out_tb: Rational,
    /// Timestamp shift in the input time base (for `--start`).
    pub offset: i64,
}

/// The decoder's channel layout; a stream that names none gets FFmpeg's default for its count.
fn input_layout(dec: &codec::decoder::Audio) -> ffmpeg::ChannelLayout {
    if dec.channel_layout().bits() == 0 {
        ffmpeg::ChannelLayout::default(dec.channels() as i32)
    } else {
        dec.channel_layout()
    }
}

/// The layout to encode: the input's own when the encoder takes any layout (it lists none, as
/// libopus and FLAC do) or lists it; otherwise the encoder's layout with the most channels that
/// are no more than the input's.
fn output_layout(dec: &codec::decoder::Audio, enc: &codec::Audio) -> ffmpeg::ChannelLayout {
    let input = input_layout(dec);
    match enc.channel_layouts() {
        None => input,
        Some(ls) => {
            let ls: Vec<ffmpeg::ChannelLayout> = ls.collect();
            if ls.contains(&input) {
                input
            } else {
                ls.into_iter().filter(|l| l.channels() <= input.channels()).max_by_key(|l| l.channels()).unwrap_or(ffmpeg::ChannelLayout::MONO)
            }
        }
    }
}

/// The layout Vorbis and Opus define for 1 to 8 channels (back surround for 5.0 and 5.1).
fn standard_layout(channels: i32) -> Option<ffmpeg::ChannelLayout> {
    use ffmpeg::ChannelLayout as L;
    Some(match channels {
        1 => L::MONO,
        2 => L::STEREO,
        3 => L::SURROUND,
        4 => L::QUAD,
        5 => L::_5POINT0_BACK,
        6 => L::_5POINT1_BACK,
        7 => L::_6POINT1,
        8 => L::_7POINT1,
        _ => return None,
    })
}

impl AudioTranscoder {
    /// Add an output stream encoding `params`' audio with `codec_name` (or the container's default).
    pub(crate) fn new(octx: &mut format::context::Output, params: &codec::Parameters, in_tb: Rational, codec_name: Option<&str>) -> Result<Self> {
        let mut decoder = codec::context::Context::from_parameters(params.clone()).or_kind(Kind::Output)?.decoder().audio().map_err(|e| deeplens_core::err!(Output, "cannot decode the audio: {e}"))?;
        decoder.set_parameters(params.clone()).or_kind(Kind::Output)?;
        let codec = match codec_name {
            Some(n) => ffmpeg::encoder::find_by_name(n).ok_or_else(|| deeplens_core::err!(Output, "unknown audio encoder '{n}' (see `ffmpeg -encoders`)"))?,
            None => {
                let id = unsafe { codec::Id::from((*octx.format().as_ptr()).audio_codec) };
                ffmpeg::encoder::find(id).ok_or_else(|| deeplens_core::err!(Output, "no encoder for the {} container's audio codec {id:?}", octx.format().name()))?
            }
        };
        let acodec = codec.audio().map_err(|_| deeplens_core::err!(Output, "'{}' is not an audio encoder", codec.name()))?;
        let global = octx.format().flags().contains(format::Flags::GLOBAL_HEADER);
        let layout = output_layout(&decoder, &acodec);
        let (had, has) = (input_layout(&decoder).channels(), layout.channels());
        if has < had {
            // Never silently: the encoder cannot carry every channel (say 5.1 into an encoder
            // limited to stereo), so FFmpeg's resampler downmixes them.
            tracing::warn!("the {} encoder takes at most {has} audio channels: downmixing {had} to {has} (choose another with --audio-codec)", codec.name());
        }
        let rate = match acodec.rates() {
            Some(rs) => {
                let want = decoder.rate() as i32;
                rs.min_by_key(|r| (r - want).abs()).unwrap_or(48000)
            }
            None => decoder.rate() as i32,
        };
        let fmt = acodec.formats().and_then(|mut f| f.next()).unwrap_or(format::Sample::F32(format::sample::Type::Planar));
        // The input's rate within what a lossy encoder wants: at least 64 kb/s, at most 96 kb/s a
        // channel (PCM and FLAC inputs state megabits, which libopus refuses).
        let channels = layout.channels().max(1) as usize;
        let bit_rate = match decoder.bit_rate() {
            0 => 64_000 * channels.max(2),
            b => b.clamp(64_000, 96_000 * channels),
        };
        let open = |layout: ffmpeg::ChannelLayout| -> std::result::Result<codec::encoder::Audio, ffmpeg::Error> {
            let mut enc = codec::context::Context::new_with_codec(codec).encoder().audio()?;
            enc.set_rate(rate);
            enc.set_channel_layout(layout);
            enc.set_channels(layout.channels());
            enc.set_format(fmt);
            enc.set_time_base((1, rate));
            enc.set_bit_rate(bit_rate);
            if global {
                enc.set_flags(codec::Flags::GLOBAL_HEADER);
            }
            enc.open_as(codec)
        };
        // Encoders that list no layouts may still refuse some orders (libopus takes 5.1 with back
        // channels, not side ones): then the standard layout of as many channels, as FFmpeg's CLI does.
        let encoder = open(layout)
            .or_else(|e| match standard_layout(layout.channels()) {
                Some(std) if std != layout => open(std),
                _ => Err(e),
            })
            .map_err(|e| deeplens_core::err!(Output, "cannot open audio encoder '{}': {e}", codec.name()))?;
        let ost = {
            let mut s = octx.add_stream(codec).or_kind(Kind::Output)?;
            s.set_parameters(&encoder);
            s.set_time_base((1, rate));
            s.index()
        };
        let graph = Self::graph(&decoder, &encoder, in_tb)?;
        tracing::warn!(
            "the {} container cannot hold {:?} audio: re-encoding it as {} (choose with --audio-codec)",
            octx.format().name(),
            params.id(),
            codec.name()
        );
        Ok(Self { decoder, encoder, graph, ost, in_tb, enc_tb: Rational(1, rate), out_tb: Rational(1, rate), offset: 0 })
    }

    fn graph(dec: &codec::decoder::Audio, enc: &codec::encoder::Audio, in_tb: Rational) -> Result<filter::Graph> {
        let mut g = filter::Graph::new();
        let layout = input_layout(dec);
        let args = format!("time_base={}:sample_rate={}:sample_fmt={}:channel_layout=0x{:x}", in_tb, dec.rate(), dec.format().name(), layout.bits());
        g.add(&filter::find("abuffer").ok_or_else(|| deeplens_core::err!(Output, "FFmpeg lacks abuffer"))?, "in", &args).or_kind(Kind::Output)?;
        g.add(&filter::find("abuffersink").ok_or_else(|| deeplens_core::err!(Output, "FFmpeg lacks abuffersink"))?, "out", "").or_kind(Kind::Output)?;
        {
            let mut out = g.get("out").expect("sink added");
            out.set_sample_format(enc.format());
            out.set_channel_layout(enc.channel_layout());
            out.set_sample_rate(enc.rate());
        }
        g.output("in", 0).or_kind(Kind::Output)?.input("out", 0).or_kind(Kind::Output)?.parse("aresample").or_kind(Kind::Output)?;
        g.validate().or_kind(Kind::Output)?;
        let fixed = enc.codec().is_some_and(|c| !c.capabilities().contains(codec::capabilities::Capabilities::VARIABLE_FRAME_SIZE));
        if fixed && enc.frame_size() > 0 {
            g.get("out").expect("sink added").sink().set_frame_size(enc.frame_size());
        }
        Ok(g)
    }

    /// Feed one input packet; write what comes out.
    pub(crate) fn push(&mut self, mut p: Packet, octx: &mut format::context::Output) -> Result<()> {
        if self.offset != 0 {
            p.set_pts(p.pts().map(|v| v - self.offset));
            p.set_dts(p.dts().map(|v| v - self.offset));
        }
        if let Err(e) = self.decoder.send_packet(&p) {
            tracing::warn!("skipping a damaged audio packet ({e})");
            return Ok(());
        }
        self.pump(octx)
    }

    fn pump(&mut self, octx: &mut format::context::Output) -> Result<()> {
        let mut decoded = frame::Audio::empty();
        while self.decoder.receive_frame(&mut decoded).is_ok() {
            let ts = decoded.timestamp();
            decoded.set_pts(ts);
            self.graph.get("in").expect("source").source().add(&decoded).map_err(|e| deeplens_core::err!(Output, "audio filter: {e}"))?;
            self.drain_graph(octx)?;
        }
        Ok(())
    }

    fn drain_graph(&mut self, octx: &mut format::context::Output) -> Result<()> {
        let mut filtered = frame::Audio::empty();
        while self.graph.get("out").expect("sink").sink().frame(&mut filtered).is_ok() {
            self.encoder.send_frame(&filtered).map_err(|e| deeplens_core::err!(Output, "audio encoder: {e}"))?;
            self.drain_encoder(octx)?;
        }
        Ok(())
    }

    fn drain_encoder(&mut self, octx: &mut format::context::Output) -> Result<()> {
        let mut pkt = Packet::empty();
        while self.encoder.receive_packet(&mut pkt).is_ok() {
            pkt.set_stream(self.ost);
            pkt.rescale_ts(self.enc_tb, self.out_tb);
            pkt.write_interleaved(octx).map_err(|e| deeplens_core::err!(Output, "cannot write audio: {e}"))?;
        }
        Ok(())
    }

    /// Flush decoder, filter and encoder.
    pub(crate) fn finish(&mut self, octx: &mut format::context::Output) -> Result<()> {
        let _ = self.decoder.send_eof();
        self.pump(octx)?;
        let _ = self.graph.get("in").expect("source").source().flush();
        self.drain_graph(octx)?;
        let _ = self.encoder.send_eof();
        self.drain_encoder(octx)
    }

    pub(crate) fn in_time_base(&self) -> Rational {
        self.in_tb
    }
}
