"""The dashboard in a real browser: sign-in, every page, a training job's loss chart
growing while it runs, cancel from the UI, a prediction from the try-it form."""

from __future__ import annotations

import shutil
import time

import pytest

from tests import sources
from tests.dashboard.conftest import Visit


@pytest.fixture(scope="module")
def sdk(dashboard_server):
    with dashboard_server.client() as client:
        yield client


@pytest.fixture(scope="module")
def digits(sdk, digits_dir) -> str:
    return sdk.create_dataset("digits", "image-classification", digits_dir).ref


@pytest.fixture(scope="module")
def trained(sdk, digits) -> str:
    """digits-cnn, trained by the test that starts it from the dataset page (or here)."""
    found = [j for j in sdk.list_jobs().data if j.kind == "train"]
    job_id = found[-1].id if found else sdk.train(digits, name="digits-cnn", epochs=5).job.id
    job = sdk.wait_job(job_id, timeout=240)
    assert job.status.value == "succeeded", sdk.job_logs(job_id)
    return sdk.get_model_version("digits-cnn").ref


def test_a_wrong_token_is_refused_and_signing_out_ends_the_session(visit: Visit):
    page = visit.open()
    page.fill("#token", "fm_not-a-real-token")
    page.click("button[type=submit]")
    page.wait_for_selector("#sign-in-error:has-text('not valid')")
    visit.shot("sign-in-refused")

    visit.sign_in()
    cookie = next(c for c in page.context.cookies() if c["name"] == "fermion_session")
    assert cookie["httpOnly"] and cookie["secure"] and cookie["sameSite"] == "Strict"
    assert page.evaluate("document.cookie") == ""  # scripts never see the session
    assert page.evaluate("fetch('/api/v1/session').then(r => r.status)") == 200

    page.click("#sign-out")
    page.wait_for_selector("#token")
    assert page.evaluate("fetch('/api/v1/session').then(r => r.status)") == 401
    page.context.add_cookies([{**cookie, "expires": time.time() + 3600}])  # a copied cookie
    assert page.evaluate("fetch('/api/v1/session').then(r => r.status)") == 401


def test_a_cross_site_style_change_with_the_cookie_alone_is_refused(visit: Visit, sdk):
    page = visit.sign_in()
    status = page.evaluate(
        "fetch('/api/v1/jobs', {method: 'POST', headers: {'Content-Type': 'application/json'},"
        " body: JSON.stringify({command: ['true']})}).then(r => r.status)"
    )
    assert status == 403  # without the dashboard's header


def test_train_from_the_dataset_page_and_watch_the_loss_chart_grow(visit: Visit, sdk, digits):
    page = visit.sign_in()
    page.goto(f"{visit.server.url}/#/datasets/digits")
    page.fill("#train-name", "digits-cnn")
    page.fill("#train-epochs", "20")
    page.fill("#train-memory", "3Gi")
    page.click("#train-form button[type=submit]")
    page.wait_for_selector("h1:has-text('Job ')")
    training = int(page.inner_text("h1").removeprefix("Job "))
    assert sdk.get_job(training).kind == "train"
    page.wait_for_selector("[data-state=running]", timeout=120_000)
    page.wait_for_selector("#loss-chart[data-points]:not([data-points='0'])", timeout=60_000)
    seen = []
    for _ in range(8):
        if sdk.get_job(training).status.value != "running":
            break
        seen.append(int(page.get_attribute("#loss-chart", "data-points")))
        page.wait_for_timeout(2500)
    assert len(seen) >= 3 and seen == sorted(seen) and seen[-1] > seen[0], seen
    assert len(set(seen)) >= 3, f"the chart grew only {len(set(seen)) - 1} times: {seen}"
    assert page.is_visible("#log") and "epoch" in page.inner_text("#log")
    assert "tensorboard --logdir" in page.inner_text("main")
    link = page.get_attribute("#tensorboard-download", "href")
    fetched = page.evaluate(f"fetch('{link}').then(r => [r.status, r.headers.get('content-type')])")
    assert fetched == [200, "application/gzip"]
    assert '"epochs": 20' in page.inner_text("#config-train-json")  # the full configuration
    visit.shot("job-running")


def test_every_page_shows_what_it_is_for(visit: Visit, sdk, trained):
    page = visit.sign_in()
    page.wait_for_selector("#capacity [role=meter]")
    visit.shot("overview")

    page.goto(f"{visit.server.url}/#/datasets")
    page.wait_for_selector("#datasets-table a:has-text('digits')")
    visit.shot("datasets")
    page.click("#datasets-table a:has-text('digits')")
    page.wait_for_selector("#sample-grid img")
    visit.wait_until(
        "[...document.querySelectorAll('#sample-grid img')].every(i => i.complete && i.naturalWidth > 0)"
    )
    captions = page.locator("#sample-grid figcaption").all_inner_texts()
    assert len(set(captions)) == 10  # samples of every class, not the first class 24 times
    assert page.locator("#class-histogram .bar").count() == 10
    assert "1439" in page.inner_text("#split-sizes")
    assert "none was skipped" in page.inner_text("main")
    visit.shot("dataset")

    page.goto(f"{visit.server.url}/#/jobs")
    page.wait_for_selector("#jobs-table [data-state=succeeded]")
    visit.shot("jobs")

    page.goto(f"{visit.server.url}/#/models")
    page.wait_for_selector("#models-table a:has-text('digits-cnn')")
    visit.shot("models")
    page.click("#models-table a:has-text('digits-cnn')")
    page.wait_for_selector("#confusion-matrix")
    assert page.locator("#confusion-matrix tbody tr").count() == 10
    assert page.locator("#per-class tbody tr").count() == 10
    assert page.is_visible("a:has-text('digits:v1')") and page.is_visible("a:has-text('job ')")
    visit.shot("model")

    page.set_viewport_size({"width": 390, "height": 844})  # a phone
    page.goto(f"{visit.server.url}/#/jobs")
    page.wait_for_selector("#jobs-table")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"the page is {width}px wide on a 390px screen"
    visit.shot("jobs-phone")


def test_cancel_a_job_from_its_page(visit: Visit, sdk, tmp_path):
    job = sdk.submit_job(
        ["python", "-c", "import time; print('waiting', flush=True); time.sleep(600)"],
        name="sleeper",
        cpu=0.5,
        memory="200Mi",
        workdir=tmp_path,
    )
    page = visit.sign_in()
    page.goto(f"{visit.server.url}/#/jobs/{job.id}")
    page.wait_for_selector("#log:has-text('waiting')", timeout=60_000)
    page.click("#cancel-job")
    page.wait_for_selector("[data-state=cancelled]", timeout=30_000)
    assert sdk.get_job(job.id).status.value == "cancelled"
    assert page.is_visible("#retry-job")
    visit.shot("job-cancelled")


def test_a_queued_job_shows_what_it_waits_for(visit: Visit, sdk, tmp_path):
    sleep = ["python", "-c", "import time; time.sleep(600)"]
    blocker = sdk.submit_job(sleep, name="blocker", cpu=3, memory="200Mi", workdir=tmp_path)
    waiting = sdk.submit_job(sleep, name="waiter", cpu=1, memory="200Mi", workdir=tmp_path)
    try:
        page = visit.sign_in()
        page.goto(f"{visit.server.url}/#/jobs/{waiting.id}")
        shown = page.wait_for_selector("#waiting-for", timeout=30_000).inner_text()
        assert "waiting for CPUs" in shown and f"job {blocker.id} blocker" in shown
        assert f"fermion job cancel {blocker.id}" in shown
        visit.shot("job-waiting")
    finally:
        for job in (waiting, blocker):
            sdk.cancel_job(job.id)


def test_tables_sort_and_page(visit: Visit, sdk, tmp_path):
    for i in range(21):
        sdk.submit_job(
            ["python", "-c", "pass"],
            name=f"quick-{i:02d}",
            cpu=0.1,
            memory="100Mi",
            workdir=tmp_path,
        )
    page = visit.sign_in()
    page.goto(f"{visit.server.url}/#/jobs")
    page.wait_for_selector("#jobs-table .pager")
    assert "page 1 of 2" in page.inner_text("#jobs-table .pager")
    first_ids = page.locator("#jobs-table tbody tr td:first-child").all_inner_texts()
    page.click("#jobs-table th:has-text('job')")  # ascending by id
    ascending = page.locator("#jobs-table tbody tr td:first-child").all_inner_texts()
    assert [int(x) for x in ascending] == sorted(int(x) for x in ascending)
    assert ascending != first_ids  # the list comes newest first
    page.click("#jobs-table .pager button:has-text('Next')")
    assert "page 2 of 2" in page.inner_text("#jobs-table .pager")


def test_deploy_from_the_model_page_and_predict_with_the_form(visit: Visit, sdk, trained, tmp_path):
    page = visit.sign_in()
    page.goto(f"{visit.server.url}/#/models/digits-cnn")
    page.fill("#deploy-name", "digits")
    page.fill("#deploy-cpu", "0.5")
    page.select_option("#deploy-runtime", "onnx")  # a light replica: ONNX Runtime, no torch
    page.click("#deploy-form button[type=submit]")
    page.wait_for_selector("h1:has-text('Deployment digits')")
    page.wait_for_selector("#replicas-table [data-state=ready]", timeout=120_000)
    assert "ONNX Runtime (light)" in page.inner_text("main")
    assert sdk.get_deployment("digits").runtime == "onnx"

    image = tmp_path / "digit.png"
    image.write_bytes(sources.png_bytes(value=90))
    expected = sdk.predict("digits", image=image)[0]["label"]
    page.set_input_files("#try-image", str(image))
    page.click("#try-form button[type=submit]")
    page.wait_for_selector("#predicted-label")
    assert page.inner_text("#predicted-label") == expected

    sdk.autoscale_deployment("digits", max_replicas=2)  # its bounds and changes appear
    page.wait_for_selector("#scale-events")
    assert "1 to 2 replicas, 8 in flight each" in page.inner_text("main")
    assert "No change yet." in page.inner_text("#scale-events")

    for _ in range(30):  # traffic for the charts
        sdk.predict("digits", image=image)
    visit.wait_until("Number(document.querySelector('#rate-chart').dataset.points) >= 2")
    visit.shot("deployment")
    page.goto(f"{visit.server.url}/#/deployments")
    page.wait_for_selector("#deployments-table [data-state=ready]")
    visit.shot("deployments")
    page.goto(f"{visit.server.url}/#/")
    page.wait_for_selector("#deployment-health [data-state=ready]")
    visit.shot("overview-with-deployment")


def test_explanations_and_importance_on_the_model_and_deployment_pages(
    visit: Visit, sdk, trained, digits, tmp_path
):
    job = sdk.evaluate_model(trained, digits, importance=True)
    assert sdk.wait_job(job.id, timeout=240).status.value == "succeeded", sdk.job_logs(job.id)
    sdk.deploy(trained, name="digits-explained")
    image = tmp_path / "digit.png"
    image.write_bytes(sources.png_bytes(value=90))

    page = visit.sign_in()
    page.goto(f"{visit.server.url}/#/models/digits-cnn")
    page.wait_for_selector("#importance img")
    assert "Integrated Gradients| over 64 images" in page.inner_text("#importance")
    page.set_input_files("#explain-form-image", str(image))
    page.click("#explain-form button[type=submit]")
    page.wait_for_selector("#explanation-heatmap", timeout=120_000)  # a job: a few seconds
    visit.wait_until("document.querySelector('#explanation-heatmap').naturalWidth >= 224")
    assert "explained with integrated-gradients" in page.inner_text("#explanation-summary")
    visit.shot("model-explained")

    sdk.wait_deployment("digits-explained", timeout=180)
    page.goto(f"{visit.server.url}/#/deployments/digits-explained")
    page.set_input_files("#try-image", str(image))
    page.click("#try-explain")
    page.wait_for_selector("#prediction #explanation-heatmap")
    expected = sdk.explain("digits-explained", image=image)
    assert f"class {expected.target} " in page.inner_text("#explanation-summary")
    visit.shot("deployment-explained")
    sdk.delete_deployment("digits-explained")


def test_a_sweep_shows_its_trials_history_and_importance(visit: Visit, sdk, digits):
    sdk.create_sweep(
        "digits-sweep",
        digits,
        {"lr": "loguniform:1e-4:1e-1", "batch_size": "choice:32,64"},
        trials=3,
        parallel=2,
        epochs=2,
        cpu=1,
        memory="2Gi",
    )
    found = sdk.wait_sweep("digits-sweep", timeout=300)
    assert found.status == "succeeded", found

    page = visit.sign_in()
    page.click("#nav a:has-text('Sweeps')")
    page.wait_for_selector("#sweeps-table a:has-text('digits-sweep')")
    page.click("#sweeps-table a:has-text('digits-sweep')")
    page.wait_for_selector("#trials-table tbody tr")
    assert page.locator("#trials-table tbody tr").count() == 3
    visit.wait_until("Number(document.querySelector('#history-chart').dataset.points) === 3")
    assert page.locator("#param-importance tr").count() == 2
    assert found.model in page.inner_text("main")
    visit.shot("sweep")


def test_a_federation_shows_its_sites_and_rounds(visit: Visit, sdk, digits_dir, tmp_path):
    for site, parity in (("east", 0), ("west", 1)):  # half of digits each
        for images in (p for p in digits_dir.iterdir() if p.is_dir()):
            dest = tmp_path / site / images.name
            dest.mkdir(parents=True)
            for i, image in enumerate(sorted(images.iterdir())):
                if i % 2 == parity:
                    shutil.copy(image, dest / image.name)
        sdk.create_dataset(f"digits-{site}", "image-classification", tmp_path / site)
    sites = {"east": "digits-east", "west": "digits-west"}
    # FedProx, with (a little) differential privacy: both paths, end to end.
    privacy = {"noise_multiplier": 1e-4, "clipping_norm": 100.0}
    sdk.create_federation(
        "digits-fed", sites, rounds=2, strategy="fedprox", privacy=privacy, cpu=0.5, memory="2Gi"
    )
    found = sdk.wait_federation("digits-fed", timeout=400)
    assert found.status == "succeeded", found
    log = sdk.job_logs(found.coordinator_job_id)
    assert "Proximal mu: 0.01" in log and "Clipping norm: 100.0" in log, log[:3000]
    # noise std = multiplier x clipping norm / sites, added to each round's average
    assert log.count("central DP noise with 0.0050 stdev added") == 2, log[-3000:]
    for site in found.sites:
        assert sdk.wait_job(site.job_id, timeout=60).status.value == "succeeded"

    page = visit.sign_in()
    page.click("#nav a:has-text('Federations')")
    page.wait_for_selector("#federations-table a:has-text('digits-fed')")
    page.click("#federations-table a:has-text('digits-fed')")
    page.wait_for_selector("#sites-table tbody tr")
    assert page.locator("#sites-table tbody tr").count() == 2
    assert "digits-east:v1" in page.inner_text("#sites-table")
    assert page.inner_text("#sites-table").count("succeeded") == 2
    visit.wait_until(
        "Number(document.querySelector('#rounds-accuracy-chart').dataset.points) === 3"
    )
    visit.wait_until("Number(document.querySelector('#rounds-loss-chart').dataset.points) === 2")
    assert found.model in page.inner_text("main")
    visit.shot("federation")
