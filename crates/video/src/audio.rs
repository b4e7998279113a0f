//! Audio re-encoding, for the one case where a stream cannot be copied: the output container
//! cannot hold the input's audio codec (AAC into WebM, say). Decode, convert with libswresample
//! (format, layout, rate), cut into the encoder's frame size through an audio FIFO, encode.
//! (Not libavfilter: linking it loads some 70 more shared libraries at every start of the
//! program, about 15 ms, for one resampler.)

use super::ffmpeg;
use deeplens_core::{ErrorKind, Kind, Result};
use ffmpeg::{codec, format, frame, Packet, Rational};

pub(crate) struct AudioTranscoder {
    decoder: codec::decoder::Audio,
    encoder: codec::encoder::Audio,
    resampler: ffmpeg::software::resampling::Context,
    fifo: Fifo,
    /// Samples per encoded frame (0: any number).
    frame_size: usize,
    /// Timestamp of the next encoded frame, in the encoder's time base (1 / rate).
    next_pts: Option<i64>,
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
        let resampler = ffmpeg::software::resampling::Context::get(decoder.format(), input_layout(&decoder), decoder.rate(), encoder.format(), encoder.channel_layout(), encoder.rate())
            .map_err(|e| deeplens_core::err!(Output, "cannot convert the audio for '{}': {e}", codec.name()))?;
        let fifo = Fifo::new(encoder.format(), encoder.channel_layout().channels())?;
        let fixed = !acodec.capabilities().contains(codec::capabilities::Capabilities::VARIABLE_FRAME_SIZE);
        let frame_size = if fixed { encoder.frame_size() as usize } else { 0 };
        tracing::warn!(
            "the {} container cannot hold {:?} audio: re-encoding it as {} (choose with --audio-codec)",
            octx.format().name(),
            params.id(),
            codec.name()
        );
        Ok(Self { decoder, encoder, resampler, fifo, frame_size, next_pts: None, ost, in_tb, enc_tb: Rational(1, rate), out_tb: Rational(1, rate), offset: 0 })
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
            if self.next_pts.is_none() {
                let ts = decoded.timestamp().unwrap_or(0);
                self.next_pts = Some(ffmpeg::Rescale::rescale(&ts, self.in_tb, self.enc_tb));
            }
            self.resample(Some(&decoded))?;
            self.encode_fifo(octx, false)?;
        }
        Ok(())
    }

    /// Convert `input` (or, with `None`, what the resampler still holds) into the FIFO.
    fn resample(&mut self, input: Option<&frame::Audio>) -> Result<()> {
        use ffmpeg::ffi::*;
        let swr = unsafe { self.resampler.as_mut_ptr() };
        let (in_data, in_n) = match input {
            Some(f) => (unsafe { (*f.as_ptr()).extended_data as *mut *const u8 }, f.samples() as i32),
            None => (std::ptr::null_mut(), 0),
        };
        loop {
            let room = unsafe { swr_get_out_samples(swr, in_n) }.max(in_n).max(256);
            let mut out = frame::Audio::new(self.encoder.format(), room as usize, self.encoder.channel_layout());
            let n = unsafe { swr_convert(swr, (*out.as_mut_ptr()).extended_data, room, in_data, in_n) };
            if n < 0 {
                deeplens_core::fail!(Output, "cannot convert the audio: {}", ffmpeg::Error::from(n));
            }
            if n > 0 {
                self.fifo.write(&out, n)?;
            }
            // Input is taken whole in one call; a flush repeats until nothing is left.
            if input.is_some() || n == 0 {
                return Ok(());
            }
        }
    }

    /// Encode whole frames from the FIFO; at the end (`last`) also the short rest.
    fn encode_fifo(&mut self, octx: &mut format::context::Output, last: bool) -> Result<()> {
        loop {
            let have = self.fifo.len();
            let n = match self.frame_size {
                0 => have,
                f if have >= f => f,
                _ if last => have,
                _ => 0,
            };
            if n == 0 {
                return Ok(());
            }
            let mut f = frame::Audio::new(self.encoder.format(), n, self.encoder.channel_layout());
            f.set_rate(self.encoder.rate());
            self.fifo.read(&mut f, n)?;
            let pts = self.next_pts.unwrap_or(0);
            f.set_pts(Some(pts));
            self.next_pts = Some(pts + n as i64);
            self.encoder.send_frame(&f).map_err(|e| deeplens_core::err!(Output, "audio encoder: {e}"))?;
            self.drain_encoder(octx)?;
        }
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

    /// Flush decoder, resampler, FIFO and encoder.
    pub(crate) fn finish(&mut self, octx: &mut format::context::Output) -> Result<()> {
        let _ = self.decoder.send_eof();
        self.pump(octx)?;
        self.resample(None)?;
        self.encode_fifo(octx, true)?;
        let _ = self.encoder.send_eof();
        self.drain_encoder(octx)
    }

    pub(crate) fn in_time_base(&self) -> Rational {
        self.in_tb
    }
}

/// libavutil's audio FIFO, owned.
struct Fifo(*mut ffmpeg::ffi::AVAudioFifo);

// The FIFO is used by one thread at a time (the muxer's), like the codec contexts beside it.
unsafe impl Send for Fifo {}

impl Fifo {
    fn new(fmt: format::Sample, channels: i32) -> Result<Self> {
        let p = unsafe { ffmpeg::ffi::av_audio_fifo_alloc(fmt.into(), channels, 1024) };
        if p.is_null() {
            deeplens_core::fail!(Output, "cannot allocate the audio FIFO");
        }
        Ok(Self(p))
    }

    fn len(&self) -> usize {
        unsafe { ffmpeg::ffi::av_audio_fifo_size(self.0) }.max(0) as usize
    }

    fn write(&mut self, f: &frame::Audio, n: i32) -> Result<()> {
        let w = unsafe { ffmpeg::ffi::av_audio_fifo_write(self.0, (*f.as_ptr()).extended_data as *mut *mut std::ffi::c_void, n) };
        if w < n {
            deeplens_core::fail!(Output, "cannot buffer the audio");
        }
        Ok(())
    }

    fn read(&mut self, f: &mut frame::Audio, n: usize) -> Result<()> {
        let r = unsafe { ffmpeg::ffi::av_audio_fifo_read(self.0, (*f.as_mut_ptr()).extended_data as *mut *mut std::ffi::c_void, n as i32) };
        if r < n as i32 {
            deeplens_core::fail!(Output, "cannot read the buffered audio");
        }
        Ok(())
    }
}

impl Drop for Fifo {
    fn drop(&mut self) {
        unsafe { ffmpeg::ffi::av_audio_fifo_free(self.0) }
    }
}
