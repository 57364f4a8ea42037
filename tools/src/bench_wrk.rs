//! Drives a load round with wrk (a C load generator) when it is installed:
//! the bench's own generator, one tokio process, tops out below what a bare
//! axum server answers on this machine, which caps every ratio against it.
//! Bodies (and their signatures) are written to a file first; each wrk
//! thread sends its own share once, so every request is a distinct event.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::bench::{Bodies, Load, SECRET};

/// wrk's Lua side: each thread reads every `threads`-th line (`sig body`),
/// sends each once, stops when its share is sent, and reports latency
/// percentiles and the count of 2xx answers on stdout as one JSON line.
const SCRIPT: &str = r#"
local ffi = require("ffi")
ffi.cdef[[
typedef struct { long tv_sec; long tv_nsec; } crm_timespec;
int clock_gettime(int clk, crm_timespec *ts);
]]
local function now()
  local ts = ffi.new("crm_timespec")
  ffi.C.clock_gettime(1, ts)
  return tonumber(ts.tv_sec) + tonumber(ts.tv_nsec) / 1e9
end
local threads = {}
local counter = 0
function setup(thread)
  counter = counter + 1
  thread:set("id", counter)
  table.insert(threads, thread)
end
function init(args)
  sigs, bodies, idx, ok = {}, {}, 0, 0
  local n, total = 0, tonumber(args[2])
  for line in io.lines(args[1]) do
    n = n + 1
    if (n - 1) % total == id - 1 then
      local sp = line:find(" ")
      sigs[#sigs + 1] = line:sub(1, sp - 1)
      bodies[#bodies + 1] = line:sub(sp + 1)
    end
  end
end
function request()
  if first == nil then first = now() end
  idx = idx + 1
  if idx > #bodies then
    wrk.thread:stop()
    idx = #bodies
  end
  local headers = {["Content-Type"] = "application/json"}
  if sigs[idx] ~= "-" then headers["X-Hub-Signature-256"] = sigs[idx] end
  return wrk.format("POST", nil, headers, bodies[idx])
end
function response(status, headers, body)
  if status >= 200 and status < 300 then ok = ok + 1 end
  last = now()
end
function done(summary, latency, requests)
  -- wrk's own duration is the whole -d window, even when every thread
  -- stopped early: the span from the first request to the last answer is
  -- the time the load took.
  local good, t0, t1 = 0, nil, nil
  for _, t in ipairs(threads) do
    good = good + (t:get("ok") or 0)
    local f, l = t:get("first"), t:get("last")
    if f and (t0 == nil or f < t0) then t0 = f end
    if l and (t1 == nil or l > t1) then t1 = l end
  end
  local micros = summary.duration
  if t0 and t1 and t1 > t0 then micros = (t1 - t0) * 1e6 end
  io.write(string.format('{"requests":%d,"ok":%d,"micros":%d,"p50":%f,"p99":%f}\n',
    summary.requests, good, micros, latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
"#;

/// Whether `wrk` is on the PATH.
pub fn available() -> bool {
    Command::new("wrk")
        .arg("--version")
        .output()
        .is_ok_and(|o| !o.stdout.is_empty() || !o.stderr.is_empty())
}

fn scratch(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("crm-bench-wrk-{}-{name}", std::process::id()))
}

/// One round of `bodies.count` requests with `concurrency` connections.
pub fn load(url: &str, bodies: &Bodies, concurrency: usize, sign: bool) -> anyhow::Result<Load> {
    let data = scratch("bodies.txt");
    let script = scratch("script.lua");
    write_bodies(&data, bodies, sign)?;
    std::fs::write(&script, SCRIPT)?;
    let threads = 2.min(concurrency.max(1));
    let out = Command::new("wrk")
        .arg(format!("-t{threads}"))
        .arg(format!("-c{concurrency}"))
        // wrk keeps the whole window even when every thread stopped early
        // (the load's own span is measured in the script): a window that
        // fits the bodies at a few thousand requests a second, no longer.
        .arg(format!("-d{}s", (bodies.count / 4000).clamp(3, 30)))
        .arg("--timeout")
        .arg("10s")
        .arg("-s")
        .arg(&script)
        .arg(url)
        .arg("--")
        .arg(&data)
        .arg(threads.to_string())
        .output()?;
    let _ = std::fs::remove_file(&data);
    let _ = std::fs::remove_file(&script);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout
        .lines()
        .rev()
        .find(|l| l.starts_with('{'))
        .ok_or_else(|| {
            anyhow::anyhow!(
                "wrk printed no summary: {stdout} {}",
                String::from_utf8_lossy(&out.stderr)
            )
        })?;
    let v: serde_json::Value = serde_json::from_str(line)?;
    let requests = v["requests"].as_f64().unwrap_or(0.0);
    let secs = v["micros"].as_f64().unwrap_or(1.0) / 1e6;
    Ok(Load {
        rps: requests / secs.max(1e-9),
        p50: v["p50"].as_f64().unwrap_or(0.0),
        p99: v["p99"].as_f64().unwrap_or(0.0),
        ok: v["ok"].as_u64().unwrap_or(0),
    })
}

fn write_bodies(path: &Path, bodies: &Bodies, sign: bool) -> anyhow::Result<()> {
    let mut f = std::io::BufWriter::new(std::fs::File::create(path)?);
    for i in 0..bodies.count {
        let body = bodies.body(i);
        let sig = if sign {
            crm_connectors::signature::sign_meta_body(SECRET.as_bytes(), &body)
        } else {
            "-".to_string()
        };
        f.write_all(sig.as_bytes())?;
        f.write_all(b" ")?;
        f.write_all(&body)?;
        f.write_all(b"\n")?;
    }
    f.flush()?;
    Ok(())
}
