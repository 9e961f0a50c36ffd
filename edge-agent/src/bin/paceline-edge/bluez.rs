//! The Bluetooth stack of the `paceline-edge` binary (feature `ble`): btleplug, BlueZ over
//! D-Bus on Linux, handed to the agent as its [`BleStack`].
//!
//! Scans by service (0x180D heart rate, 0x1818 cycling power, 0x1814 RSC, 0x1816 CSC,
//! 0x1826 FTMS), picks each configured sensor by name or address (or the first one seen
//! offering the service), connects, reads the battery level (and follows it: notified, or
//! read again every 5 minutes), subscribes to the measurement
//! characteristic, and turns notifications into samples with [`gatt`] (cadence and
//! speed derived with [`Revolutions`]). A sensor that drops is reconnected with
//! exponential backoff and jitter; each sensor's state is logged.
//!
//! No adapter, no BlueZ, no D-Bus: [`BleError::Unavailable`], quickly (every call into the
//! stack is bounded by a timeout), never a hang or a panic.

use std::collections::HashSet;
use std::time::Duration;

use btleplug::api::bleuuid::{BleUuid, uuid_from_u16};
use btleplug::api::{Central, CharPropFlags, Manager as _, Peripheral as _, ScanFilter};
use btleplug::platform::{Adapter, Manager, Peripheral};
use futures::StreamExt;
use paceline_schemas::Sample;
use tokio::sync::mpsc;

use paceline_edge::ble::{
    BleError, BleSensors, BleStack, CSC_SERVICE, CYCLING_POWER_SERVICE, FTMS_SERVICE, FoundSensor,
    HEART_RATE_SERVICE, RSC_SERVICE, SENSOR_SERVICES, SensorReporter, SensorState, SensorStatus,
    battery_level,
};
use paceline_edge::gatt;
use paceline_edge::revolutions::Revolutions;

/// A bound on every call into the Bluetooth stack.
const STACK_TIMEOUT: Duration = Duration::from_secs(10);
/// How often a connected sensor's Battery Level is read again (sensors that notify it
/// report sooner).
const BATTERY_REREAD: Duration = Duration::from_secs(300);

async fn bounded<T, E: std::fmt::Display>(
    what: &str,
    future: impl std::future::Future<Output = Result<T, E>>,
) -> Result<T, String> {
    match tokio::time::timeout(STACK_TIMEOUT, future).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(e)) => Err(format!("{what}: {e}")),
        Err(_) => Err(format!(
            "{what}: no answer in {} s",
            STACK_TIMEOUT.as_secs()
        )),
    }
}

/// The first Bluetooth adapter, or [`BleError::Unavailable`].
pub async fn adapter() -> Result<Adapter, BleError> {
    let manager = bounded("D-Bus", Manager::new())
        .await
        .map_err(BleError::Unavailable)?;
    let adapters = bounded("BlueZ", manager.adapters())
        .await
        .map_err(BleError::Unavailable)?;
    adapters
        .into_iter()
        .next()
        .ok_or_else(|| BleError::Unavailable("no Bluetooth adapter".to_owned()))
}

fn sensor_filter() -> ScanFilter {
    ScanFilter {
        services: SENSOR_SERVICES
            .iter()
            .map(|(uuid, _, _)| uuid_from_u16(*uuid))
            .collect(),
    }
}

async fn describe(peripheral: &Peripheral) -> Option<FoundSensor> {
    let properties = bounded("properties", peripheral.properties())
        .await
        .ok()??;
    let services: Vec<u16> = properties
        .services
        .iter()
        .filter_map(|uuid| uuid.to_ble_u16())
        .filter(|uuid| SENSOR_SERVICES.iter().any(|(known, _, _)| known == uuid))
        .collect();
    Some(FoundSensor {
        address: properties.address.to_string(),
        name: properties.local_name,
        services,
        rssi: properties.rssi,
    })
}

/// btleplug as the agent's Bluetooth stack.
pub fn stack() -> BleStack {
    BleStack::new(std::sync::Arc::new(|sensors, samples, report| {
        Box::pin(run(sensors, samples, report))
    }))
}

/// Scans for `duration` and lists the sensors seen.
pub async fn scan(duration: Duration) -> Result<Vec<FoundSensor>, BleError> {
    let central = adapter().await?;
    bounded("start scan", central.start_scan(sensor_filter()))
        .await
        .map_err(BleError::Stack)?;
    tokio::time::sleep(duration).await;
    let peripherals = bounded("peripherals", central.peripherals())
        .await
        .map_err(BleError::Stack)?;
    let _ = central.stop_scan().await;
    let mut found = Vec::new();
    for peripheral in peripherals {
        if let Some(sensor) = describe(&peripheral).await
            && !sensor.services.is_empty()
        {
            found.push(sensor);
        }
    }
    Ok(found)
}

fn matches(sensor: &FoundSensor, wanted: &str) -> bool {
    wanted.eq_ignore_ascii_case("auto")
        || sensor.address.eq_ignore_ascii_case(wanted)
        || sensor.name.as_deref().is_some_and(|name| name == wanted)
}

/// Streams samples from the configured sensors until the receiver goes away.
async fn run(
    sensors: BleSensors,
    samples: mpsc::Sender<Sample>,
    report: SensorReporter,
) -> Result<(), BleError> {
    let central = adapter().await?;
    let wanted: Vec<(u16, String)> = [
        (HEART_RATE_SERVICE, &sensors.heart_rate),
        (CYCLING_POWER_SERVICE, &sensors.power),
        (RSC_SERVICE, &sensors.rsc),
        (CSC_SERVICE, &sensors.csc),
        (FTMS_SERVICE, &sensors.ftms),
    ]
    .into_iter()
    .filter_map(|(service, choice)| choice.clone().map(|choice| (service, choice)))
    .collect();
    if wanted.is_empty() {
        return Err(BleError::Stack("no sensor configured".to_owned()));
    }
    let start = tokio::time::Instant::now();
    let mut tasks = Vec::new();
    for (service, choice) in wanted {
        let central = central.clone();
        let samples = samples.clone();
        let scan_s = sensors.scan_s.max(1);
        let report = report.clone();
        tasks.push(tokio::spawn(async move {
            sensor_loop(central, service, choice, scan_s, start, samples, report).await;
        }));
    }
    for task in tasks {
        let _ = task.await;
    }
    Ok(())
}

/// Finds, connects and follows one sensor, reconnecting with backoff after a drop.
async fn sensor_loop(
    central: Adapter,
    service: u16,
    choice: String,
    scan_s: u64,
    start: tokio::time::Instant,
    samples: mpsc::Sender<Sample>,
    report: SensorReporter,
) {
    const FIRST_DELAY: Duration = Duration::from_millis(500);
    let mut delay = FIRST_DELAY;
    let mut jitter = u64::from(service);
    loop {
        if samples.is_closed() {
            return;
        }
        let reason = match follow(&central, service, &choice, scan_s, start, &samples, &report)
            .await
        {
            Ok(address) => {
                tracing::warn!(service = format!("0x{service:04x}"), sensor = %address, "sensor disconnected");
                // It was connected: start the backoff over.
                delay = FIRST_DELAY;
                (address, "disconnected".to_owned())
            }
            Err(reason) => {
                tracing::warn!(service = format!("0x{service:04x}"), sensor = %choice, %reason, "sensor unavailable");
                (choice.clone(), reason)
            }
        };
        report(SensorStatus {
            service,
            sensor: reason.0,
            state: SensorState::Lost { reason: reason.1 },
        });
        jitter = jitter
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1);
        let spread = Duration::from_millis(jitter % 500);
        tokio::time::sleep(delay + spread).await;
        delay = (delay * 2).min(Duration::from_secs(30));
    }
}

async fn follow(
    central: &Adapter,
    service: u16,
    choice: &str,
    scan_s: u64,
    start: tokio::time::Instant,
    samples: &mpsc::Sender<Sample>,
    report: &SensorReporter,
) -> Result<String, String> {
    bounded("start scan", central.start_scan(sensor_filter())).await?;
    tokio::time::sleep(Duration::from_secs(scan_s)).await;
    let mut chosen = None;
    for peripheral in bounded("peripherals", central.peripherals()).await? {
        if let Some(found) = describe(&peripheral).await
            && found.services.contains(&service)
            && matches(&found, choice)
        {
            chosen = Some((peripheral, found));
            break;
        }
    }
    let (peripheral, found) =
        chosen.ok_or_else(|| format!("no sensor matching {choice:?} seen"))?;
    bounded("connect", peripheral.connect()).await?;
    bounded("discover services", peripheral.discover_services()).await?;
    let measurement: HashSet<u16> = SENSOR_SERVICES
        .iter()
        .filter(|(uuid, _, _)| *uuid == service)
        .flat_map(|(_, _, chars)| chars.iter().copied())
        .collect();
    let characteristics = peripheral.characteristics();
    let mut battery_pct = None;
    let battery = characteristics
        .iter()
        .find(|c| c.uuid.to_ble_u16() == Some(gatt::BATTERY_LEVEL))
        .cloned();
    if let Some(battery) = &battery {
        if let Ok(level) = bounded("battery", peripheral.read(battery)).await {
            battery_pct = battery_level(&level);
        }
        // Best effort: a sensor that notifies its level reports changes at once.
        if battery.properties.contains(CharPropFlags::NOTIFY) {
            let _ = bounded("subscribe battery", peripheral.subscribe(battery)).await;
        }
    }
    tracing::info!(sensor = %found.address, name = ?found.name, ?battery_pct, "sensor connected");
    let mut subscribed = 0;
    for characteristic in &characteristics {
        if characteristic
            .uuid
            .to_ble_u16()
            .is_some_and(|uuid| measurement.contains(&uuid))
        {
            bounded("subscribe", peripheral.subscribe(characteristic)).await?;
            subscribed += 1;
        }
    }
    if subscribed == 0 {
        return Err("the sensor has no measurement characteristic".to_owned());
    }
    let mut notifications = bounded("notifications", peripheral.notifications()).await?;
    report(SensorStatus {
        service,
        sensor: found.address.clone(),
        state: SensorState::Connected {
            name: found.name.clone(),
            battery_pct,
        },
    });
    let mut revolutions = Revolutions::default();
    let connected = |battery_pct| SensorStatus {
        service,
        sensor: found.address.clone(),
        state: SensorState::Connected {
            name: found.name.clone(),
            battery_pct,
        },
    };
    let mut reread =
        tokio::time::interval_at(tokio::time::Instant::now() + BATTERY_REREAD, BATTERY_REREAD);
    loop {
        let notification = tokio::select! {
            notification = notifications.next() => match notification {
                Some(notification) => notification,
                None => break,
            },
            _ = reread.tick(), if battery.is_some() => {
                if let Some(battery) = &battery
                    && let Ok(level) = bounded("battery", peripheral.read(battery)).await
                    && let Some(pct) = battery_level(&level)
                    && battery_pct != Some(pct)
                {
                    battery_pct = Some(pct);
                    report(connected(battery_pct));
                }
                continue;
            }
        };
        let Some(uuid) = notification.uuid.to_ble_u16() else {
            continue;
        };
        if uuid == gatt::BATTERY_LEVEL {
            if let Some(pct) = battery_level(&notification.value)
                && battery_pct != Some(pct)
            {
                battery_pct = Some(pct);
                report(connected(battery_pct));
            }
            continue;
        }
        let t_ms = u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX);
        match gatt::decode(uuid, &notification.value) {
            Ok(mut value) => {
                revolutions.fill(t_ms, &mut value);
                if samples.send(Sample { t_ms, value }).await.is_err() {
                    let _ = peripheral.disconnect().await;
                    return Ok(found.address);
                }
            }
            // Bad sensor bytes are not an error of the ride: log and go on.
            Err(e) => {
                tracing::debug!(sensor = %found.address, error = %e, "undecodable notification")
            }
        }
    }
    Ok(found.address)
}
