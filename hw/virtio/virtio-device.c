// SPDX-License-Identifier: MIT
/* The transport-facing half shared by every vgi device model. */
#include <errno.h>
#include <string.h>

#include <linux/virtio_config.h>

#include <vgi/log.h>
#include <vgi/virtio-device.h>

int vgi_virtio_device_init(struct vgi_virtio_device *dev, const struct vgi_virtio_device_ops *ops,
			   uint32_t device_id, unsigned num_queues, uint32_t config_size)
{
	memset(dev, 0, sizeof(*dev));
	if (num_queues == 0 || num_queues > VGI_VIRTIO_MAX_QUEUES)
		return -EINVAL;
	dev->ops = ops;
	dev->device_id = device_id;
	dev->num_queues = num_queues;
	dev->config_size = config_size;
	for (unsigned i = 0; i < num_queues; i++) {
		dev->queues[i] = vgi_virtqueue_new(i);
		if (!dev->queues[i]) {
			vgi_virtio_device_finish(dev);
			return -ENOMEM;
		}
	}
	return 0;
}

void vgi_virtio_device_finish(struct vgi_virtio_device *dev)
{
	for (unsigned i = 0; i < VGI_VIRTIO_MAX_QUEUES; i++) {
		vgi_virtqueue_free(dev->queues[i]);
		dev->queues[i] = NULL;
	}
}

void vgi_virtio_device_set_host(struct vgi_virtio_device *dev, const struct vgi_virtio_host_ops *host,
				void *opaque)
{
	dev->host = host;
	dev->host_opaque = opaque;
}

int vgi_virtio_device_set_memory(struct vgi_virtio_device *dev, const struct vgi_guest_memory *mem)
{
	int ret = 0;

	dev->mem = mem;
	for (unsigned i = 0; i < dev->num_queues; i++) {
		struct vgi_virtqueue *vq = dev->queues[i];
		bool was_ready = vgi_virtqueue_ready(vq);

		vgi_virtqueue_set_memory(vq, mem);
		if (was_ready && vgi_virtqueue_start(vq) < 0)
			ret = -EFAULT;
	}
	if (dev->ops->memory_changed)
		dev->ops->memory_changed(dev);
	return ret;
}

uint64_t vgi_virtio_device_get_features(struct vgi_virtio_device *dev)
{
	return dev->ops->get_features(dev);
}

void vgi_virtio_device_set_features(struct vgi_virtio_device *dev, uint64_t acked)
{
	acked &= dev->ops->get_features(dev);
	dev->acked_features = acked;
	for (unsigned i = 0; i < dev->num_queues; i++)
		vgi_virtqueue_set_features(dev->queues[i], acked);
	dev->ops->set_features(dev, acked);
}

struct vgi_virtqueue *vgi_virtio_device_queue(struct vgi_virtio_device *dev, unsigned index)
{
	return index < dev->num_queues ? dev->queues[index] : NULL;
}

int vgi_virtio_device_queue_setup(struct vgi_virtio_device *dev, unsigned index, uint32_t num,
				  uint64_t desc, uint64_t avail, uint64_t used)
{
	struct vgi_virtqueue *vq = vgi_virtio_device_queue(dev, index);
	int ret;

	if (!vq)
		return -EINVAL;
	vgi_virtio_device_queue_stop(dev, index);
	ret = vgi_virtqueue_set_num(vq, num);
	if (ret)
		return ret;
	vgi_virtqueue_set_addr(vq, desc, avail, used);
	vgi_virtqueue_set_memory(vq, dev->mem);
	vgi_virtqueue_set_features(vq, dev->acked_features);
	return vgi_virtqueue_start(vq);
}

void vgi_virtio_device_queue_stop(struct vgi_virtio_device *dev, unsigned index)
{
	struct vgi_virtqueue *vq = vgi_virtio_device_queue(dev, index);

	if (!vq)
		return;
	if (dev->ops->queue_stop)
		dev->ops->queue_stop(dev, index);
	if (vgi_virtqueue_inflight(vq))
		vgi_debug("virtio: queue %u stopped with %u requests still held by the device", index,
			  vgi_virtqueue_inflight(vq));
	vgi_virtqueue_stop(vq);
}

void vgi_virtio_device_kick(struct vgi_virtio_device *dev, unsigned index)
{
	struct vgi_virtqueue *vq = vgi_virtio_device_queue(dev, index);

	if (!vq || !vgi_virtqueue_ready(vq))
		return;
	dev->ops->queue_notify(dev, index);
}

void vgi_virtio_device_notify(struct vgi_virtio_device *dev, unsigned index)
{
	struct vgi_virtqueue *vq = vgi_virtio_device_queue(dev, index);

	if (vq && vgi_virtqueue_should_notify(vq) && dev->host && dev->host->notify)
		dev->host->notify(dev->host_opaque, index);
}

void vgi_virtio_device_config_changed(struct vgi_virtio_device *dev)
{
	if (dev->host && dev->host->config_changed)
		dev->host->config_changed(dev->host_opaque);
}

static bool config_range_ok(const struct vgi_virtio_device *dev, uint32_t offset, uint32_t len)
{
	return (uint64_t)offset + len <= dev->config_size;
}

int vgi_virtio_device_read_config(struct vgi_virtio_device *dev, uint32_t offset, void *buf, uint32_t len)
{
	if (!config_range_ok(dev, offset, len)) {
		vgi_warn("config read out of range: offset %u len %u (size %u)", offset, len, dev->config_size);
		return -EINVAL;
	}
	dev->ops->read_config(dev, offset, buf, len);
	return 0;
}

int vgi_virtio_device_write_config(struct vgi_virtio_device *dev, uint32_t offset, const void *buf,
				   uint32_t len)
{
	if (!config_range_ok(dev, offset, len)) {
		vgi_warn("config write out of range: offset %u len %u (size %u)", offset, len, dev->config_size);
		return -EINVAL;
	}
	if (dev->ops->write_config)
		dev->ops->write_config(dev, offset, buf, len);
	return 0;
}

void vgi_virtio_device_reset(struct vgi_virtio_device *dev)
{
	if (dev->ops->reset)
		dev->ops->reset(dev);
	for (unsigned i = 0; i < dev->num_queues; i++) {
		vgi_virtqueue_stop(dev->queues[i]);
		vgi_virtqueue_set_last_avail(dev->queues[i], 0);
	}
	dev->acked_features = 0;
}
